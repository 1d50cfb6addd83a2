"""Issue 10, items 1-3: the operator's likely mistakes with the PFX password never put it on disk.

Every test goes through a door an operator uses — ``octorunbook run``, a direct ``papermill`` run, the
form, ``octorunbook certificate check|new``, ``octorunbook sandbox init`` — and then greps every file
under the audit, work, sandbox, home and temp folders (and the process output) for the canary.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from octorunbook import ui as forms
from octorunbook.audit.records import extract_result
from octorunbook.findings import InputError
from octorunbook.params.core import Parameters
from octorunbook.redaction import MASK, SECRETS, Secret

pytestmark = pytest.mark.canary

BIN = Path(sys.executable).parent
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


class Door:
    """One operator's machine: work, audit, home and temp folders, and the commands they type."""

    def __init__(self, root: Path, **env: str) -> None:
        self.root = root
        self.work, self.audit, self.home, self.tmp = (root / n for n in ("work", "audit", "home", "tmp"))
        for folder in (self.work, self.home, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "HOME": str(self.home), "TMPDIR": str(self.tmp), **env}
        self.env.pop("OCTORUNBOOK_PFX_PASSWORD", None)
        self.env.update(env)
        self.output = ""

    def params(self, **values: Any) -> Path:
        path = self.work / "params.yaml"
        path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))
        return path

    def __call__(self, *argv: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, cwd=self.work, env=self.env, timeout=timeout
        )
        self.output += done.stdout + done.stderr
        return done

    def octorunbook(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return self(str(BIN / "octorunbook"), *argv)

    def files_containing(self, needle: str, *extra: Path) -> list[str]:
        roots = [self.root, Path(os.environ["OCTORUNBOOK_HOME"]), *extra]
        hits = []
        for root in roots:
            for path in root.rglob("*"):
                if path.is_file() and not path.is_symlink():
                    data = path.read_bytes()
                    if needle.encode() in data or needle.encode("utf-16-le") in data:
                        hits.append(str(path))
        return hits


def write_pfx(path: Path, password: str, hostname: str = "localhost") -> Path:
    issued = trustme.CA().issue_cert(hostname)
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), None)
    cert = x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes())
    encryption = serialization.BestAvailableEncryption(password.encode())
    path.write_bytes(pkcs12.serialize_key_and_certificates(b"portal", key, cert, None, encryption))  # type: ignore[arg-type]
    return path


@pytest.fixture
def door(tmp_path: Path) -> Door:
    return Door(tmp_path / "machine")


def canary() -> str:
    return "c4n-" + secrets.token_hex(10) + "!"


# ---- 1 · a password pasted into pfx_password_env ---------------------------------------------------


# Fixed ids: the values are random per process, and every pytest-xdist worker must collect the same names.
@pytest.mark.parametrize(
    "pasted",
    [canary(), "Summer" + secrets.token_hex(6), canary() + "   "],
    ids=["canary", "word-and-digits", "canary-with-trailing-spaces"],
)
def test_run_refuses_a_password_pasted_into_pfx_password_env_before_papermill_and_never_echoes_it(
    door: Door, sandbox: Any, pasted: str
) -> None:
    pfx = write_pfx(door.work / "portal.pfx", pasted.strip())
    params = door.params(
        sandbox_dir=str(sandbox.root),
        audit_dir=str(door.audit),
        certificate_source="pfx",
        pfx_path=str(pfx),
        pfx_password_env=pasted,
    )
    done = door.octorunbook("run", str(params))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "PASSWORD_ENV_INVALID" in done.stderr or "PFX_PASSWORD_MISSING" in done.stderr
    assert f"({len(pasted)} characters" in done.stderr  # only its length is said
    assert "▶ 01" not in done.stdout  # papermill never started
    assert not list(door.audit.glob("**/*.ipynb"))
    params.unlink()  # the operator's own file holds it, of course
    assert pasted.strip() not in door.output
    assert door.files_containing(pasted.strip(), sandbox.root) == []


def test_direct_papermill_with_a_pasted_password_exits_2_and_writes_nothing(door: Door) -> None:
    pasted = canary()
    out = door.work / "out.ipynb"
    done = door(
        str(BIN / "papermill"),
        str(NOTEBOOKS / "01-import-certificate.ipynb"),
        str(out),
        "-p",
        "pfx_password_env",
        pasted,
        "-p",
        "audit_dir",
        str(door.audit),
    )
    assert done.returncode == 2, done.stderr
    assert "✖ PASSWORD_ENV_INVALID" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
    assert pasted not in door.output
    assert door.files_containing(pasted) == []


def test_redacting_handler_masks_a_pasted_password_in_the_injected_cell_and_metadata(
    tmp_path: Path,
) -> None:
    """The second line of defence, for writes that happen anyway (the runner's scheme, a papermill
    run that skipped the entry point): the first write already holds no trace of the value."""
    import papermill as pm

    from octorunbook.headless.runner import SCHEME, register_handler

    pasted = canary()
    register_handler()
    out = tmp_path / "prepared.ipynb"
    pm.execute_notebook(
        str(NOTEBOOKS / "02-verify-certificate.ipynb"),
        SCHEME + str(out),
        parameters={"pfx_password_env": pasted, "thumbprint": "A" * 40},
        prepare_only=True,
        progress_bar=False,
    )
    text = out.read_text()
    assert pasted not in text and json.dumps(pasted)[1:-1] not in text
    nb = nbformat.read(str(out), as_version=4)
    shown = nb.metadata.papermill.parameters["pfx_password_env"]
    assert shown == f"{MASK} ({len(pasted)} characters, not shown)"
    assert "A" * 40 in text  # the other parameters are as given


def test_form_says_only_the_length_of_a_pasted_password(sandbox: Any, tmp_path: Path) -> None:
    pasted = canary()
    values = {"sandbox_dir": str(sandbox.root), "audit_dir": str(tmp_path / "audit")}
    form = forms.Form("01-import-certificate", Parameters(**values))
    form.widgets["certificate_source"].value = "pfx"
    form.widgets["pfx_password_env"].value = pasted
    said = str(form.problems()["pfx_password_env"])
    assert f"{len(pasted)} characters" in said and pasted not in said
    record = form.parameters().to_record()
    assert pasted not in json.dumps(record)
    refused = [f for f in form.parameters().check() if f.code == "PASSWORD_ENV_INVALID"]
    assert refused and pasted not in refused[0].message + refused[0].remedy


@pytest.mark.parametrize("command", ["check", "new"])
def test_certificate_commands_refuse_a_password_given_as_the_variable_name(door: Door, command: str) -> None:
    pasted = canary()
    pfx = write_pfx(door.work / "in.pfx", "long-enough-password")
    argv = (
        ["check", str(pfx)]
        if command == "check"
        else ["new", "--hostname", "localhost", "--out", str(door.work / "new.pfx")]
    )
    done = door.octorunbook("certificate", *argv, "--password-env", pasted)
    assert done.returncode == 2
    assert "PASSWORD_ENV_INVALID" in done.stderr and f"({len(pasted)} characters)" in done.stderr
    assert pasted not in door.output and door.files_containing(pasted) == []


# ---- 2 · short passwords and masks that would tell ---------------------------------------------------


@pytest.mark.parametrize("password", ["1", "ab", "xyz"])
def test_a_pfx_password_under_4_characters_is_refused_with_its_own_code_at_every_door(
    door: Door, sandbox: Any, password: str
) -> None:
    door.env["SHORT_PFX_PW"] = password
    pfx = write_pfx(door.work / "portal.pfx", password)
    params = door.params(
        sandbox_dir=str(sandbox.root),
        audit_dir=str(door.audit),
        certificate_source="pfx",
        pfx_path=str(pfx),
        pfx_password_env="SHORT_PFX_PW",
    )
    run = door.octorunbook("run", str(params))
    assert run.returncode == 2 and "PFX_PASSWORD_TOO_SHORT" in run.stderr
    check = door.octorunbook("certificate", "check", str(pfx), "--password-env", "SHORT_PFX_PW")
    assert check.returncode == 2 and "PFX_PASSWORD_TOO_SHORT" in check.stderr
    new = door.octorunbook(
        "certificate", "new", "--hostname", "localhost", "--out", str(door.work / "n.pfx"),
        "--password-env", "SHORT_PFX_PW",
    )  # fmt: skip
    assert new.returncode == 2 and "PFX_PASSWORD_TOO_SHORT" in new.stderr
    assert not (door.work / "n.pfx").exists()
    form = forms.Form("01-import-certificate", Parameters(sandbox_dir=str(sandbox.root)))
    form.password.value = password
    with pytest.raises(InputError) as typed:
        form.take_password()
    assert typed.value.code == "PFX_PASSWORD_TOO_SHORT" and form.password.value == ""


def test_masks_never_fall_inside_produced_values_but_cover_the_password_itself() -> None:
    Secret("example")
    thumbprint = "3F30A43F0A02B44BAA23B98393613FDBE12A225E"
    Secret("A43F")  # a password that happens to occur in the thumbprint
    Parameters(hostname="octopus.example.com")
    mask = SECRETS.masker()
    assert mask("CN=octopus.example.com") == "CN=octopus.example.com"
    assert mask("https://octopus.example.com:443/") == "https://octopus.example.com:443/"
    assert mask(f"thumbprint {thumbprint}") == f"thumbprint {thumbprint}"
    assert mask("2026-11-28T23:35:00Z") == "2026-11-28T23:35:00Z"
    assert mask("bad password: example (for octopus.example.com)") == (
        f"bad password: {MASK} (for octopus.example.com)"
    )
    assert mask("A43F") == MASK and mask("key A43F!") == f"key {MASK}!"
    assert mask(repr("it's example")) == repr("it's example").replace("example", MASK)


def test_password_example_runs_the_procedure_unmasked_with_a_230_character_sandbox_name(
    door: Door, make_sandbox: Callable[..., Any]
) -> None:
    """The PFX password 'example' for octopus.example.com: no CN=octopus.********.com, no
    SECRET_IN_ARGV from the listen prefix, 02 and 03 get the real thumbprint; and a sandbox folder
    of 230 characters still gives record names that can be written."""
    door.env["PORTAL_PFX_PW"] = "example"
    sandbox = make_sandbox("s" * 230)
    pfx = write_pfx(door.work / "portal.pfx", "example", "octopus.example.com")
    params = door.params(
        sandbox_dir=str(sandbox.root),
        audit_dir=str(door.audit),
        hostname="octopus.example.com",
        certificate_source="pfx",
        pfx_path=str(pfx),
        pfx_password_env="PORTAL_PFX_PW",
        https_port=8443,
    )
    done = door.octorunbook("run", str(params))
    assert done.returncode == 0, done.stdout + done.stderr
    records = sorted(door.audit.glob("*.ipynb"))
    assert len(records) == 3 and all(len(p.name) < 200 for p in records)
    results = [extract_result(nbformat.read(str(p), as_version=4)) for p in records]
    assert [r["status"] for r in results if r] == ["succeeded"] * 3
    thumbprints = {r["certificate"]["thumbprint"] for r in results if r}
    assert len(thumbprints) == 1 and MASK not in next(iter(thumbprints))
    assert results[0] and results[0]["certificate"]["dns_names"] == ["octopus.example.com"]
    for path in [*records, *door.audit.glob("*.html")]:
        text = path.read_text()
        assert ".********." not in text and "octopus.********" not in text, path


# ---- 3 · the portal daemon's environment -------------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_sandbox_portal_started_from_a_shell_that_exported_the_password_does_not_hold_it(
    door: Door,
) -> None:
    first, second = canary(), canary()
    door.env.update({"OCTORUNBOOK_PFX_PASSWORD": first, "MY_PORTAL_PFX": second})
    root = door.root / "sandbox"
    try:
        done = door.octorunbook("sandbox", "init", str(root))
        assert done.returncode == 0, done.stderr
        from octorunbook.targets.sandbox import Sandbox

        pid = Sandbox(root).portal_pid() or 0
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert pid and b"PATH=" in environ
        assert first.encode() not in environ and second.encode() not in environ
    finally:
        door.octorunbook("sandbox", "stop", str(root))


def test_inputs_panel_of_the_form_shows_a_pasted_password_only_by_its_length(sandbox: Any) -> None:
    pasted = "Autumn" + secrets.token_hex(5)  # looks like a variable name, but no such variable is set
    form = forms.Form(
        "01-import-certificate",
        Parameters(sandbox_dir=str(sandbox.root), certificate_source="pfx", pfx_password_env=pasted),
    )
    panel = form.summary()
    assert pasted not in panel.text() + panel.html()
    assert f"({len(pasted)} characters, not shown)" in panel.text()
