"""The audit directory: record names, redaction, the hash chain, listing and showing records."""

from __future__ import annotations

import json
import multiprocessing
import secrets
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from octorunbook import RESULT_MIME
from octorunbook.audit.chain import MANIFEST_NAME, verify_chain
from octorunbook.audit.listing import list_records
from octorunbook.audit.records import extract_result, read_result, record_name
from octorunbook.audit.redact import redact_notebook
from octorunbook.audit.show import show_record
from octorunbook.audit.store import store_record
from octorunbook.findings import InputError
from octorunbook.redaction import MASK, SECRETS

THUMBPRINT = "3A1F" * 10
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def make_result(**overrides: Any) -> dict[str, Any]:
    """A complete result record as the runbooks display it."""
    result: dict[str, Any] = {
        "runbook": "03-add-https-binding",
        "status": "succeeded",
        "target": "sandbox",
        "host": "localhost",
        "operator": "alice",
        "started_at": "2026-11-26T18:30:00Z",
        "finished_at": "2026-11-26T18:31:12Z",
        "octorunbook_version": "0.1.0",
        "octopus_version": "2024.4.6",
        "parameters": {"listen_prefix": "https://octopus.example.com:443/", "pfx_password_env": "PFX_PW"},
        "certificate": {
            "thumbprint": THUMBPRINT,
            "subject": "CN=octopus.example.com",
            "dns_names": ["octopus.example.com"],
            "not_before": "2026-11-01T00:00:00Z",
            "not_after": "2027-11-01T00:00:00Z",
            "store": "LocalMachine\\My",
        },
        "changes": [{"description": "added binding https://octopus.example.com:443/"}],
        "state": {"before": {"prefixes": ["http://localhost:80/"]}, "after": {"prefixes": ["https://x/"]}},
        "verification": [
            {"check": "served thumbprint", "expected": THUMBPRINT, "seen": THUMBPRINT, "ok": True}
        ],
        "findings": [
            {
                "code": "CERT_EXPIRES_SOON",
                "severity": "warning",
                "message": "the certificate expires in 20 days",
                "remedy": "renew it before 2027-11-01",
            }
        ],
        "commands": [
            {
                "argv": ["Octopus.Server.exe", "configure", "--webListenPrefixes=https://x/"],
                "exit_code": 0,
                "seconds": 1.25,
                "mutating": True,
                "label": "set listen prefixes",
            }
        ],
    }
    result.update(overrides)
    return result


def make_notebook(result: dict[str, Any] | None = None, *, cells: list[Any] | None = None) -> Any:
    """An executed runbook notebook, built in-process, carrying ``result`` as its result record."""
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell("# Add the HTTPS binding"),
        new_code_cell("audit_dir = 'audit'", metadata={"tags": ["parameters"]}),
        new_code_cell('# Parameters\nhost = "localhost"\n', metadata={"tags": ["injected-parameters"]}),
        *(cells or []),
    ]
    if result is not None:
        output = new_output("display_data", data={RESULT_MIME: result, "text/plain": "<result record>"})
        nb.cells.append(new_code_cell("record.display()", outputs=[output], execution_count=4))
    nb.metadata["papermill"] = {
        "parameters": {"host": "localhost"},
        "input_path": "notebooks/03-add-https-binding.ipynb",
        "start_time": "2026-11-26T18:30:00.123456",
    }
    return nb


def store_several(audit_dir: Path, count: int, *, html: bool = True) -> list[Path]:
    start = datetime(2026, 11, 26, 18, 30, tzinfo=UTC)
    return [
        store_record(
            audit_dir,
            make_notebook(make_result(started_at=f"{start + timedelta(minutes=i):%Y-%m-%dT%H:%M:%SZ}")),
            html=html,
        )
        for i in range(count)
    ]


def manifest_lines(audit_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (audit_dir / MANIFEST_NAME).read_text("utf-8").splitlines()]


def kinds(audit_dir: Path) -> list[str]:
    return [problem.kind for problem in verify_chain(audit_dir)]


@pytest.fixture
def canary() -> Iterator[str]:
    """A random secret registered for the test; the registry is restored afterwards."""
    value = f"canary-{secrets.token_hex(12)}"
    before = SECRETS.values()
    SECRETS.add(value)
    yield value
    SECRETS.clear()
    for kept in before:
        SECRETS.add(kept)


# --- names ---------------------------------------------------------------------------------------------


def test_record_name_is_utc_timestamp_runbook_and_host() -> None:
    started = datetime(2026, 11, 26, 18, 30, tzinfo=UTC)
    assert record_name(started, "03-add-https-binding", "localhost") == (
        "20261126T183000Z_03-add-https-binding_localhost.ipynb"
    )


def test_record_name_converts_other_time_zones_to_utc() -> None:
    started = datetime(2026, 11, 26, 19, 30, tzinfo=timezone(timedelta(hours=1)))
    assert record_name(started, "rb", "h").startswith("20261126T183000Z_")


def test_record_name_refuses_a_naive_datetime() -> None:
    with pytest.raises(InputError) as caught:
        record_name(datetime(2026, 11, 26, 18, 30), "rb", "h")
    assert caught.value.code == "RECORD_TIME_NAIVE"


def test_record_name_sanitises_host_to_letters_digits_dots_and_dashes() -> None:
    name = record_name(datetime(2026, 1, 1, tzinfo=UTC), "03-add-https-binding", "OCTO_01\\srv /../x:443")
    assert name == "20260101T000000Z_03-add-https-binding_OCTO-01-srv-..-x-443.ipynb"
    assert "/" not in name and name.count("_") == 2


def test_record_name_adds_a_numeric_suffix_while_the_name_is_taken() -> None:
    started = datetime(2026, 11, 26, 18, 30, tzinfo=UTC)
    first = record_name(started, "rb", "h")
    second = record_name(started, "rb", "h", taken={first})
    third = record_name(started, "rb", "h", taken={first, second})
    assert (second, third) == ("20261126T183000Z_rb_h-2.ipynb", "20261126T183000Z_rb_h-3.ipynb")


def test_record_names_sort_by_time() -> None:
    times = [
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC) + timedelta(seconds=s) for s in (0, 9, 3600, 86400 * 40)
    ]
    names = [record_name(t, "zz-runbook" if i % 2 else "aa-runbook", "host") for i, t in enumerate(times)]
    assert sorted(reversed(names)) == names


# --- the result record ---------------------------------------------------------------------------------


def test_extract_result_returns_the_last_result_output() -> None:
    nb = make_notebook(make_result(status="failed"))
    nb.cells.append(
        new_code_cell("again", outputs=[new_output("display_data", data={RESULT_MIME: make_result()})])
    )
    assert extract_result(nb)["status"] == "succeeded"  # type: ignore[index]


def test_extract_result_returns_none_when_the_notebook_never_reported() -> None:
    assert extract_result(make_notebook(None)) is None


def test_read_result_refuses_a_file_that_is_not_a_notebook(tmp_path: Path) -> None:
    (tmp_path / "x.ipynb").write_text("not json")
    with pytest.raises(InputError) as caught:
        read_result(tmp_path / "x.ipynb")
    assert caught.value.code == "RECORD_UNREADABLE"


def test_read_result_reports_a_notebook_without_result(tmp_path: Path) -> None:
    nbformat.write(make_notebook(None), tmp_path / "x.ipynb")
    with pytest.raises(InputError) as caught:
        read_result(tmp_path / "x.ipynb")
    assert caught.value.code == "RECORD_HAS_NO_RESULT"


# --- storing -------------------------------------------------------------------------------------------


def test_store_record_writes_notebook_html_and_a_chained_manifest_line(tmp_path: Path) -> None:
    path = store_record(tmp_path, make_notebook(make_result()))
    assert path.name == "20261126T183000Z_03-add-https-binding_localhost.ipynb"
    assert path.with_suffix(".html").is_file()
    assert read_result(path)["status"] == "succeeded"
    [line] = manifest_lines(tmp_path)
    assert line["seq"] == 1 and line["prev"] == "0" * 64 and line["record"] == path.name
    assert (
        line["when"],
        line["runbook"],
        line["host"],
        line["target"],
        line["status"],
        line["operator"],
    ) == (
        "2026-11-26T18:30:00Z",
        "03-add-https-binding",
        "localhost",
        "sandbox",
        "succeeded",
        "alice",
    )
    assert line["thumbprint"] == THUMBPRINT
    assert len(line["sha256"]) == len(line["html_sha256"]) == len(line["line_hash"]) == 64


def test_store_record_links_each_manifest_line_to_the_previous_one(tmp_path: Path) -> None:
    store_several(tmp_path, 3, html=False)
    lines = manifest_lines(tmp_path)
    assert [line["seq"] for line in lines] == [1, 2, 3]
    assert [line["prev"] for line in lines[1:]] == [line["line_hash"] for line in lines[:-1]]


def test_store_record_keeps_two_runs_in_the_same_second_apart(tmp_path: Path) -> None:
    first = store_record(tmp_path, make_notebook(make_result()), html=False)
    second = store_record(tmp_path, make_notebook(make_result()), html=False)
    assert second.name == first.name.replace(".ipynb", "-2.ipynb")
    assert verify_chain(tmp_path) == []


def test_store_record_writes_failed_runs_with_their_error(tmp_path: Path) -> None:
    error = new_output(
        "error",
        ename="VerificationError",
        evalue="PORTAL_SERVES_OLD_CERT",
        traceback=["VerificationError: PORTAL_SERVES_OLD_CERT"],
    )
    nb = make_notebook(make_result(status="failed"), cells=[new_code_cell("verify()", outputs=[error])])
    path = store_record(tmp_path, nb)
    assert list_records(tmp_path)[0].status == "failed"
    assert "PORTAL_SERVES_OLD_CERT" in path.with_suffix(".html").read_text("utf-8")


def test_store_record_keeps_a_run_that_broke_before_it_could_report(tmp_path: Path) -> None:
    path = store_record(tmp_path, make_notebook(None), html=False)
    assert path.name == "20261126T183000Z_03-add-https-binding_unknown-host.ipynb"
    [row] = list_records(tmp_path)
    assert (row.status, row.runbook) == ("failed", "03-add-https-binding")
    assert verify_chain(tmp_path) == []


def test_store_record_html_leaves_out_the_injected_parameters_source(tmp_path: Path) -> None:
    nb = make_notebook(make_result())
    nb.cells[2].source = '# Parameters\nhost = "injected-host-marker"\n'
    path = store_record(tmp_path, nb)
    assert "injected-host-marker" not in path.with_suffix(".html").read_text("utf-8")
    assert "injected-host-marker" in path.read_text("utf-8")  # the notebook keeps the (redacted) cell


def test_store_record_without_html_writes_no_html_and_still_verifies(tmp_path: Path) -> None:
    path = store_record(tmp_path, make_notebook(make_result()), html=False)
    assert not path.with_suffix(".html").exists()
    assert manifest_lines(tmp_path)[0]["html_sha256"] == ""
    assert verify_chain(tmp_path) == []


def test_store_record_keeps_the_notebook_when_html_rendering_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(nb: Any) -> bytes:
        raise RuntimeError("template missing")

    monkeypatch.setattr("octorunbook.audit.store._render_html", broken)
    path = store_record(tmp_path, make_notebook(make_result(status="failed")))
    assert path.is_file() and not path.with_suffix(".html").exists()
    assert manifest_lines(tmp_path)[0]["html_error"] == "RuntimeError: template missing"
    assert verify_chain(tmp_path) == []


def test_store_record_leaves_no_temporary_files_behind(tmp_path: Path) -> None:
    store_several(tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


# --- verifying -----------------------------------------------------------------------------------------


def test_verify_chain_finds_nothing_wrong_with_untouched_records(tmp_path: Path) -> None:
    store_several(tmp_path, 4)
    assert verify_chain(tmp_path) == []


def test_verify_detects_one_byte_changed_in_a_record(tmp_path: Path) -> None:
    paths = store_several(tmp_path, 3)
    data = bytearray(paths[1].read_bytes())
    data[len(data) // 2] ^= 0x01
    paths[1].write_bytes(bytes(data))
    [problem] = verify_chain(tmp_path)
    assert (problem.kind, problem.record) == ("changed", paths[1].name)


def test_verify_detects_one_byte_changed_in_a_records_html(tmp_path: Path) -> None:
    paths = store_several(tmp_path, 2)
    html = paths[0].with_suffix(".html")
    html.write_bytes(html.read_bytes().replace(b"</html>", b"</htmL>"))
    [problem] = verify_chain(tmp_path)
    assert (problem.kind, problem.record) == ("changed", paths[0].name)
    assert ".html" in problem.detail


def test_verify_detects_a_deleted_record(tmp_path: Path) -> None:
    paths = store_several(tmp_path, 3, html=False)
    paths[0].unlink()
    [problem] = verify_chain(tmp_path)
    assert (problem.kind, problem.record) == ("removed", paths[0].name)


def test_verify_detects_a_record_added_by_hand(tmp_path: Path) -> None:
    store_several(tmp_path, 2, html=False)
    nbformat.write(
        make_notebook(make_result()), tmp_path / "20261231T000000Z_03-add-https-binding_evil.ipynb"
    )
    [problem] = verify_chain(tmp_path)
    assert (problem.kind, problem.record) == ("added", "20261231T000000Z_03-add-https-binding_evil.ipynb")


def test_verify_detects_an_edited_manifest_line(tmp_path: Path) -> None:
    paths = store_several(tmp_path, 3, html=False)
    manifest = tmp_path / MANIFEST_NAME
    manifest.write_text(manifest.read_text("utf-8").replace('"status":"succeeded"', '"status":"failed"', 1))
    [problem] = verify_chain(tmp_path)
    assert (problem.kind, problem.record) == ("manifest-edited", paths[0].name)


def test_verify_detects_an_edited_manifest_line_even_with_its_hash_recomputed(tmp_path: Path) -> None:
    from octorunbook.audit.chain import canonical as _canonical
    from octorunbook.audit.chain import line_hash as _line_hash

    store_several(tmp_path, 3, html=False)
    lines = manifest_lines(tmp_path)
    lines[1]["operator"] = "mallory"
    lines[1]["line_hash"] = _line_hash(lines[1])
    (tmp_path / MANIFEST_NAME).write_bytes(b"".join(_canonical(line) + b"\n" for line in lines))
    problems = verify_chain(tmp_path)
    assert [(p.kind, p.record) for p in problems] == [("manifest-edited", lines[2]["record"])]


def test_verify_detects_a_removed_manifest_line(tmp_path: Path) -> None:
    paths = store_several(tmp_path, 3, html=False)
    manifest = tmp_path / MANIFEST_NAME
    lines = manifest.read_text("utf-8").splitlines(keepends=True)
    manifest.write_text(lines[0] + lines[2])
    assert sorted(kinds(tmp_path)) == ["added", "manifest-edited"]
    assert {p.record for p in verify_chain(tmp_path)} == {paths[1].name, paths[2].name}


def test_verify_detects_reordered_manifest_lines(tmp_path: Path) -> None:
    store_several(tmp_path, 3, html=False)
    manifest = tmp_path / MANIFEST_NAME
    lines = manifest.read_text("utf-8").splitlines(keepends=True)
    manifest.write_text(lines[1] + lines[0] + lines[2])
    assert set(kinds(tmp_path)) == {"manifest-edited"}


def test_verify_reports_a_missing_manifest_and_every_record_as_added(tmp_path: Path) -> None:
    store_several(tmp_path, 2, html=False)
    (tmp_path / MANIFEST_NAME).unlink()
    assert kinds(tmp_path) == ["manifest-missing", "added", "added"]


def test_verify_refuses_a_directory_that_is_not_an_audit_dir(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        verify_chain(tmp_path)
    assert caught.value.code == "NOT_AN_AUDIT_DIR"


def test_a_record_stored_after_a_torn_manifest_line_is_still_written_and_the_tear_reported(
    tmp_path: Path,
) -> None:
    store_several(tmp_path, 1, html=False)
    with open(tmp_path / MANIFEST_NAME, "ab") as handle:
        handle.write(b'{"seq":2,"rec')  # a crash in the middle of an append
    store_record(tmp_path, make_notebook(make_result(host="after-crash")), html=False)
    assert kinds(tmp_path) == ["manifest-edited"]
    assert list_records(tmp_path)[0].host == "after-crash"


# --- concurrency ---------------------------------------------------------------------------------------


def test_eight_threads_storing_at_once_keep_the_chain_intact(tmp_path: Path) -> None:
    barrier = threading.Barrier(8)

    def run(i: int) -> Path:
        nb = make_notebook(make_result(operator=f"op{i}"))
        barrier.wait()
        return store_record(tmp_path, nb)

    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(run, range(8)))
    assert len({p.name for p in paths}) == 8
    assert verify_chain(tmp_path) == []
    assert [line["seq"] for line in manifest_lines(tmp_path)] == list(range(1, 9))


def _store_in_child(audit_dir: str) -> str:
    return store_record(audit_dir, make_notebook(make_result())).name


@pytest.mark.skipif(sys.platform == "win32", reason="uses fork to share the test module with children")
def test_eight_processes_storing_at_once_keep_the_chain_intact(tmp_path: Path) -> None:
    with ProcessPoolExecutor(8, mp_context=multiprocessing.get_context("fork")) as pool:
        names = list(pool.map(_store_in_child, [str(tmp_path)] * 8))
    assert len(set(names)) == 8
    assert verify_chain(tmp_path) == []
    assert len(list_records(tmp_path)) == 8


# --- secrets -------------------------------------------------------------------------------------------


def notebook_with_secret_everywhere(secret: str) -> Any:
    """A run that leaked ``secret`` into every place papermill, nbclient and ipywidgets can put it."""
    leaky = new_code_cell(
        f'pfx = load_pfx(path, "{secret}")\nprint(pfx)',
        metadata={"note": secret},
        outputs=[
            new_output("stream", name="stdout", text=f"password is {secret}\n"),
            new_output("display_data", data={"text/html": f"<b>{secret}</b>", "text/plain": repr(secret)}),
            new_output("error", ename="ValueError", evalue=f"bad {secret}", traceback=[f"line {secret}"]),
        ],
    )
    nb = make_notebook(make_result(status="failed", parameters={"pfx_password": secret}), cells=[leaky])
    nb.cells[2].source = f'# Parameters\npfx_password = "{secret}"\nhost = "localhost"\n'
    nb.metadata["papermill"]["parameters"] = {"pfx_password": secret, "host": "localhost"}
    nb.metadata["widgets"] = {
        WIDGET_STATE: {
            "version_major": 2,
            "version_minor": 0,
            "state": {
                "m1": {
                    "model_name": "PasswordModel",
                    "model_module": "@jupyter-widgets/controls",
                    "model_module_version": "2.0.0",
                    "state": {"value": secret, "description": "PFX password"},
                }
            },
        }
    }
    return nb


@pytest.mark.canary
def test_a_canary_secret_never_reaches_any_file_in_the_audit_dir(tmp_path: Path, canary: str) -> None:
    store_record(tmp_path, notebook_with_secret_everywhere(canary))
    store_record(tmp_path, make_notebook(make_result()))
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".ipynb", ".html", ".jsonl"}
    leaks = [p.name for p in files if canary.encode() in p.read_bytes()]
    assert leaks == []
    assert verify_chain(tmp_path) == []


def test_redaction_keeps_the_parameters_that_are_not_secret(canary: str) -> None:
    redacted = redact_notebook(notebook_with_secret_everywhere(canary))
    assert redacted.metadata.papermill.parameters == {"pfx_password": MASK, "host": "localhost"}
    assert 'host = "localhost"' in redacted.cells[2].source


def test_redaction_masks_secret_looking_parameters_nobody_registered() -> None:
    nb = make_notebook(make_result())
    nb.cells[2].source = '# Parameters\napi_token = "unregistered-value"\npfx_password_env = "PFX_PW"\n'
    nb.metadata["papermill"]["parameters"] = {"api_token": "unregistered-value", "pfx_password_env": "PFX_PW"}
    redacted = redact_notebook(nb)
    assert "unregistered-value" not in json.dumps(redacted)
    assert redacted.metadata.papermill.parameters["pfx_password_env"] == "PFX_PW"
    assert 'pfx_password_env = "PFX_PW"' in redacted.cells[2].source


def test_redaction_clears_a_password_widget_value_nobody_registered() -> None:
    redacted = redact_notebook(notebook_with_secret_everywhere("typed-into-the-form"))
    state = redacted.metadata.widgets[WIDGET_STATE]["state"]["m1"]["state"]
    assert state["value"] == "" and state["description"] == "PFX password"


def test_redaction_masks_a_secret_in_its_escaped_forms(canary: str) -> None:
    tricky = f'{canary}"\\q'
    SECRETS.add(tricky)
    nb = make_notebook(
        make_result(), cells=[new_code_cell("x", outputs=[new_output("stream", text=repr({"pw": tricky}))])]
    )
    nb.metadata["note"] = tricky
    text = nbformat.writes(redact_notebook(nb))
    assert canary not in text


def test_redaction_is_pure(canary: str) -> None:
    nb = notebook_with_secret_everywhere(canary)
    before = json.dumps(nb, sort_keys=True)
    redact_notebook(nb)
    assert json.dumps(nb, sort_keys=True) == before


# --- listing and showing -------------------------------------------------------------------------------


def test_list_records_shows_newest_first_and_honours_limit(tmp_path: Path) -> None:
    paths = store_several(tmp_path, 5, html=False)
    rows = list_records(tmp_path)
    assert [row.record for row in rows] == [p.name for p in reversed(paths)]
    assert [row.record for row in list_records(tmp_path, limit=2)] == [paths[4].name, paths[3].name]
    assert rows[0].thumbprint == THUMBPRINT and not rows[0].unverified


def test_list_records_reads_the_manifest_not_the_notebooks(tmp_path: Path) -> None:
    paths = store_several(tmp_path, 2, html=False)
    paths[0].write_text("no longer a notebook")
    assert {row.record for row in list_records(tmp_path)} == {p.name for p in paths}


def test_list_records_shows_a_hand_added_notebook_as_unverified(tmp_path: Path) -> None:
    store_several(tmp_path, 1, html=False)
    nbformat.write(
        make_notebook(make_result(started_at="2027-01-01T00:00:00Z", host="hand")),
        tmp_path / "20270101T000000Z_03-add-https-binding_hand.ipynb",
    )
    rows = list_records(tmp_path)
    assert [(row.host, row.unverified) for row in rows] == [("hand", True), ("localhost", False)]


def test_show_record_tells_what_happened_on_what_evidence(tmp_path: Path) -> None:
    path = store_record(tmp_path, make_notebook(make_result()), html=False)
    text = show_record(path)
    for expected in (
        "03-add-https-binding: SUCCEEDED",
        "alice",
        "localhost (target sandbox)",
        "2026-11-26T18:30:00Z → 2026-11-26T18:31:12Z",
        f"thumbprint  {THUMBPRINT}",
        "- added binding https://octopus.example.com:443/",
        f"✔ served thumbprint: expected {THUMBPRINT}, seen {THUMBPRINT}",
        "⚠ CERT_EXPIRES_SOON: the certificate expires in 20 days",
        "remedy: renew it before 2027-11-01",
        "exit 0  1.25 s  [changes]  set listen prefixes: Octopus.Server.exe configure",
    ):
        assert expected in text


def test_show_record_of_a_failed_run_shows_the_failed_check_and_error(tmp_path: Path) -> None:
    result = make_result(
        status="failed",
        certificate=None,
        verification=[{"check": "served thumbprint", "expected": "AA", "seen": "BB", "ok": False}],
        findings=[
            {"code": "PORTAL_SERVES_OLD_CERT", "severity": "error", "message": "old", "remedy": "rerun"}
        ],
        commands=[{"argv": ["netsh"], "exit_code": 1, "seconds": 0.5, "mutating": False, "label": ""}],
    )
    text = show_record(store_record(tmp_path, make_notebook(result), html=False))
    assert "FAILED" in text and "✖ served thumbprint: expected AA, seen BB" in text
    assert "✖ PORTAL_SERVES_OLD_CERT: old" in text and "exit 1  0.50 s  netsh" in text
    assert "Certificate\n  none" in text
