"""Issue 10, items 6, 7 and 10: every bad input is refused at the door, coded, before anything changes.

Files the operator names are small regular files (never /dev/zero, a FIFO or a 2 GB sparse file); YAML
aliases and non-string keys are refused; a parameter error of type or range exits 2 before a kernel
starts; ``instance`` and the host name are validated and used exactly as validated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from octorunbook.headless.runner import load_params_file
from octorunbook.params.core import Parameters
from octorunbook.targets.octopus import build_prefix

BIN = Path(sys.executable).parent
OCTORUNBOOK = str(BIN / "octorunbook")


def run(*argv: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OCTORUNBOOK, *argv], capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False
    )


def params_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "portal.pfx"
    os.mkfifo(path)
    return path


def sparse(tmp_path: Path) -> Path:
    path = tmp_path / "huge.pfx"
    with open(path, "wb") as handle:
        handle.truncate(2 * 1024**3)
    return path


# ---- 10 · files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda tmp: Path("/dev/zero"), "FILE_NOT_REGULAR"),
        (fifo, "FILE_NOT_REGULAR"),
        (sparse, "FILE_TOO_LARGE"),
    ],
    ids=["dev-zero", "fifo", "2GB-sparse"],
)
def test_certificate_check_refuses_devices_fifos_and_huge_files_at_once(
    tmp_path: Path, make: Any, code: str
) -> None:
    done = run("certificate", "check", str(make(tmp_path)), cwd=tmp_path, timeout=20)
    assert done.returncode == 2, done.stderr
    assert code in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("make", "code"),
    [(lambda tmp: Path("/dev/zero"), "FILE_NOT_REGULAR"), (fifo, "FILE_NOT_REGULAR"), (sparse, "FILE_TOO_LARGE")],
    ids=["dev-zero", "fifo", "2GB-sparse"],
)  # fmt: skip
def test_run_refuses_a_parameter_file_that_is_a_device_fifo_or_huge(
    tmp_path: Path, make: Any, code: str
) -> None:
    done = run("run", str(make(tmp_path)), cwd=tmp_path, timeout=20)
    assert done.returncode == 2 and code in done.stderr and "Traceback" not in done.stderr


DEVICE_FIFO_HUGE = pytest.mark.parametrize(
    ("make", "code"),
    [(lambda tmp: Path("/dev/zero"), "FILE_NOT_REGULAR"), (fifo, "FILE_NOT_REGULAR"), (sparse, "FILE_TOO_LARGE")],
    ids=["dev-zero", "fifo", "2GB-sparse"],
)  # fmt: skip


@DEVICE_FIFO_HUGE
def test_check_refuses_a_parameter_file_that_is_a_device_fifo_or_huge_as_unknown_at_once(
    tmp_path: Path, make: Any, code: str
) -> None:
    done = run("check", str(make(tmp_path)), cwd=tmp_path, timeout=20)
    assert done.returncode == 3 and code in done.stdout, done.stdout  # a monitoring plugin: UNKNOWN
    assert "Traceback" not in done.stdout + done.stderr


@DEVICE_FIFO_HUGE
def test_schedule_install_refuses_a_parameter_file_that_is_a_device_fifo_or_huge(
    tmp_path: Path, make: Any, code: str
) -> None:
    done = run("schedule", "install", str(make(tmp_path)), "--platform", "cron", cwd=tmp_path, timeout=20)
    assert done.returncode == 2 and code in done.stderr and "Traceback" not in done.stderr


@DEVICE_FIFO_HUGE
def test_audit_show_refuses_a_record_that_is_a_device_fifo_or_huge(
    tmp_path: Path, make: Any, code: str
) -> None:
    done = run("audit", "show", str(make(tmp_path)), cwd=tmp_path, timeout=20)
    assert done.returncode == 2 and code in done.stderr and "Traceback" not in done.stderr


@DEVICE_FIFO_HUGE
def test_run_refuses_a_pfx_path_that_is_a_device_fifo_or_huge_before_a_kernel_starts(
    tmp_path: Path, make: Any, code: str
) -> None:
    path = params_file(
        tmp_path,
        f"certificate_source: pfx\npfx_path: {json.dumps(str(make(tmp_path)))}\n"
        f"audit_dir: {json.dumps(str(tmp_path / 'audit'))}\n",
    )
    done = run("run", str(path), cwd=tmp_path, timeout=20)
    assert done.returncode == 2 and code in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "audit").exists()


def test_pem_paths_are_checked_as_regular_files_of_a_sane_size_at_parameter_time(tmp_path: Path) -> None:
    key = tmp_path / "portal.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    params = Parameters(certificate_source="pem", pem_cert_path=str(sparse(tmp_path)), pem_key_path=str(key))
    assert [f.code for f in params.check() if f.severity == "error"] == ["FILE_TOO_LARGE"]
    folder = Parameters(certificate_source="pem", pem_cert_path=str(tmp_path), pem_key_path=str(key))
    assert [f.code for f in folder.check() if f.severity == "error"] == ["FILE_UNREADABLE"]


def test_an_unset_acme_eab_hmac_env_is_refused_before_a_kernel_and_its_value_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import secrets

    canary = "Hmac" + secrets.token_hex(16)  # the HMAC key itself, pasted where its variable's NAME belongs
    monkeypatch.delenv(canary, raising=False)
    audit = tmp_path / "audit"
    path = params_file(
        tmp_path,
        f"certificate_source: acme\nacme_eab_kid: kid-1\nacme_eab_hmac_env: {canary}\n"
        f"audit_dir: {json.dumps(str(audit))}\n",
    )
    done = run("run", str(path), cwd=tmp_path, timeout=20)
    assert done.returncode == 2 and "ACME_EAB_HMAC_MISSING" in done.stderr, done.stderr
    assert f"{len(canary)} characters" in done.stderr
    assert canary not in done.stdout + done.stderr
    assert not audit.exists()
    params = Parameters(certificate_source="acme", acme_eab_kid="kid-1", acme_eab_hmac_env=canary)
    assert canary not in json.dumps(params.to_record())


YAML_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
extra_dns_names: [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_a_yaml_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    done = run("run", str(params_file(tmp_path, YAML_BOMB)), cwd=tmp_path, timeout=20)
    assert done.returncode == 2, done.stderr
    assert "PARAMETERS_UNREADABLE" in done.stderr and "aliases" in done.stderr


@pytest.mark.parametrize(
    "text",
    ["1: localhost\n", "? [a, b]\n: x\n", "hostname: localhost\n~: x\n", "true: 1\n"],
    ids=["int-key", "list-key", "null-key", "bool-key"],
)
def test_non_string_yaml_keys_are_a_coded_usage_error_not_a_traceback(tmp_path: Path, text: str) -> None:
    done = run("run", str(params_file(tmp_path, text)), cwd=tmp_path, timeout=20)
    assert done.returncode == 2, done.stderr
    assert "✖ PARAMETER" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("https_port: 70000", "PORT_INVALID"),
        ("https_port: [443]", "PARAMETER_INVALID"),
        ("validity_days: soon", "PARAMETER_INVALID"),
        ("hsts_max_age: -1", "HSTS_INVALID"),
        ("rollback: Ture", "PARAMETER_INVALID"),
        ("store: Foo", "STORE_INVALID"),
        ("hostname: {a: b}", "PARAMETER_INVALID"),
        ("extra_dns_names: [1, 2]", "PARAMETER_INVALID"),
        (f"sandbox_dir: {'x' * 5000}", "PARAMETER_INVALID"),
    ],
)
def test_every_type_or_range_error_exits_2_before_a_kernel_starts(
    tmp_path: Path, line: str, code: str
) -> None:
    audit = tmp_path / "audit"
    done = run("run", str(params_file(tmp_path, f"{line}\naudit_dir: {audit}\n")), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert code in done.stderr and "▶ 01" not in done.stdout and not audit.exists()


# ---- 6 · checks before the first change ------------------------------------------------------------------


def test_instance_with_a_path_in_it_is_refused_and_writes_nothing_outside(
    tmp_path: Path, sandbox: Any
) -> None:
    inside = tmp_path / "a" / "b" / "c"
    inside.mkdir(parents=True)
    text = f'sandbox_dir: {sandbox.root}\naudit_dir: {tmp_path / "audit"}\ninstance: "../../../../OUTSIDE"\n'
    before = set(tmp_path.rglob("*"))
    done = run("run", str(params_file(inside, text)), cwd=inside)
    assert done.returncode == 2 and "INSTANCE_INVALID" in done.stderr
    assert {p for p in set(tmp_path.rglob("*")) - before if "OUTSIDE" in p.name} == set()
    assert not (tmp_path / "audit").exists()


@pytest.mark.parametrize("name", ["..", "a/b", "a\\b", "x\n", "trailing.", " lead", "é", "x" * 65])
def test_instance_names_that_are_not_instance_names_are_refused(name: str) -> None:
    assert "INSTANCE_INVALID" in [f.code for f in Parameters(instance=name).check()]


def test_instance_names_octopus_uses_are_accepted() -> None:
    for name in ("OctopusServer", "Octopus Server 2", "prod_01", "a"):
        assert "INSTANCE_INVALID" not in [f.code for f in Parameters(instance=name).check()]


def test_an_audit_dir_that_cannot_be_written_stops_the_run_before_papermill(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    text = f"audit_dir: {blocker / 'audit'}\n"
    done = run("run", str(params_file(tmp_path, text)), cwd=tmp_path)
    assert done.returncode == 2 and "AUDIT_DIR_UNWRITABLE" in done.stderr and "▶ 01" not in done.stdout


def test_a_path_parameter_with_a_line_break_is_refused(tmp_path: Path) -> None:
    text = f"audit_dir: {json.dumps(str(tmp_path / 'audit') + chr(10))}\n"
    done = run("run", str(params_file(tmp_path, text)), cwd=tmp_path)
    assert done.returncode == 2 and "PATH_INVALID" in done.stderr


# ---- 7 · host names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "used", "prefix"),
    [
        ('"localhost "', "localhost", "https://localhost:8443/"),
        ('"localhost\\n"', "localhost", "https://localhost:8443/"),
        ('"  Octopus.Example.COM"', "octopus.example.com", "https://octopus.example.com:8443/"),
        ('"octopus.example.com."', "octopus.example.com", "https://octopus.example.com:8443/"),
        ('"::1"', "::1", "https://[::1]:8443/"),
        ('"[0:0::1]"', "::1", "https://[::1]:8443/"),
    ],
)
def test_the_hostname_is_used_exactly_as_validated(
    tmp_path: Path, given: str, used: str, prefix: str
) -> None:
    params = load_params_file(params_file(tmp_path, f"hostname: {given}\nhttps_port: 8443\n"))
    assert params.hostname == used and params.https_prefix == prefix
    assert build_prefix("https", params.hostname, 8443) == prefix
    assert "HOSTNAME_INVALID" not in [f.code for f in params.check()]


@pytest.mark.parametrize("hostname", ["fe80::1%eth0", "fe80::1%1,https://evil:1", "local host", "a,b"])
def test_zone_ids_and_other_bad_hostnames_exit_2_before_anything(tmp_path: Path, hostname: str) -> None:
    done = run("run", str(params_file(tmp_path, f"hostname: {json.dumps(hostname)}\n")), cwd=tmp_path)
    assert done.returncode == 2 and "HOSTNAME_INVALID" in done.stderr
