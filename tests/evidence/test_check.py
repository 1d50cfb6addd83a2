"""``octorunbook check`` against the real sandbox portal: certificates made to expire soon, exit 0/1/2/3.

Certificates are bound the way runbook 03 binds them (the stand-in ``Octopus.Server ssl-certificate``,
``configure``, ``service --restart``), or by running 01 → 02 → 03 themselves; the check then runs as a
monitoring system runs it: the ``octorunbook check`` command in a fresh process.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from portkit import free_port

from octorunbook.evidence.check import CRITICAL, OK, UNKNOWN, WARNING, ServedCertificate, judge
from octorunbook.evidence.check_render import prometheus_text, write_textfile
from octorunbook.findings import OctorunbookError
from octorunbook.redaction import Secret
from octorunbook.targets.sandbox.store import DirectoryCertificateStore

BIN = Path(sys.executable).parent
NOW = dt.datetime.now(dt.UTC)
LINE = re.compile(r"^CERT (OK|WARNING|CRITICAL|UNKNOWN) - .+$")


def leaf(
    *names: str, not_before: dt.datetime | None = None, not_after: dt.datetime | None = None
) -> trustme.LeafCert:
    return trustme.CA().issue_cert(
        *(names or ("localhost",)),
        not_before=not_before or NOW - dt.timedelta(days=1),
        not_after=not_after or NOW + dt.timedelta(days=90),
    )


def lived(lifetime: float, *, left: dt.timedelta) -> trustme.LeafCert:
    """A certificate of ``lifetime`` days with ``left`` of it to run."""
    end = NOW + left
    return leaf(not_before=end - dt.timedelta(days=lifetime), not_after=end)


def bind(sandbox: Any, tmp_path: Path, cert: trustme.LeafCert, *, restart: bool = True) -> str:
    """Import into the sandbox's LocalMachine\\My and bind it on 0.0.0.0:443 as 03 would; the thumbprint."""
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), None)
    certificate = x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes())
    pfx = tmp_path / f"{certificate.serial_number}.pfx"
    pfx.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"t",
            key,  # type: ignore[arg-type]
            certificate,
            None,
            serialization.BestAvailableEncryption(b"check-pass"),
        )
    )
    store = DirectoryCertificateStore(sandbox.stores_dir)  # the driver under LocalMachine\\My
    thumbprint = str(store.import_pfx(pfx, Secret("check-pass"), "My").thumbprint)
    cli = [str(sandbox.server_exe)]
    steps = [
        ["ssl-certificate", "--thumbprint", thumbprint, "--certificate-store", "My", "--port", "443"],
        ["configure", "--webListenPrefixes", "http://localhost:80/,https://localhost:443/"],
    ]
    if restart:
        steps.append(["service", "--restart"])
    for step in steps:
        done = subprocess.run([*cli, *step], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    return thumbprint


def params_file(tmp_path: Path, sandbox: Any, **values: Any) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"sandbox_dir": str(sandbox.root), "hostname": "localhost", **values}))
    return path


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "octorunbook"), "check", *args], capture_output=True, text=True, check=False, timeout=120
    )


# -- the four situations on the real sandbox portal ---------------------------------------------------
def test_check_is_ok_when_the_served_certificate_has_months_left(sandbox: Any, tmp_path: Path) -> None:
    bind(sandbox, tmp_path, lived(90, left=dt.timedelta(days=84, hours=12)))
    done = check(str(params_file(tmp_path, sandbox)))
    assert done.returncode == OK, done.stdout
    # a 90-day certificate: WARNING with a third (30 days) left, CRITICAL with a sixth (15)
    assert done.stdout.strip() == "CERT OK - localhost expires in 84 days | days=84;30;15 lifetime_days=90"


def test_check_warns_within_warn_days(sandbox: Any, tmp_path: Path) -> None:
    bind(sandbox, tmp_path, lived(90, left=dt.timedelta(days=20, hours=12)))
    done = check(str(params_file(tmp_path, sandbox)))
    assert done.returncode == WARNING, done.stdout
    assert done.stdout.startswith("CERT WARNING - localhost: expires in 20 days")
    assert "1/3 of its 90-day lifetime" in done.stdout
    assert done.stdout.strip().endswith("| days=20;30;15 lifetime_days=90")
    assert check(str(params_file(tmp_path, sandbox)), "--warn-days", "14").returncode == OK


def test_check_is_critical_within_critical_days(sandbox: Any, tmp_path: Path) -> None:
    thumbprint = bind(sandbox, tmp_path, lived(90, left=dt.timedelta(days=3, hours=12)))
    done = check(str(params_file(tmp_path, sandbox)), "--json")
    assert done.returncode == CRITICAL, done.stdout
    record = json.loads(done.stdout)
    assert record["status"] == "CRITICAL" and record["exit_code"] == 2 and record["days_left"] == 3
    assert record["served"]["thumbprint"] == thumbprint == record["bound"]["thumbprint"]
    assert any("expires in 3 days" in reason for reason in record["reasons"])


def test_check_is_critical_for_an_expired_certificate(sandbox: Any, tmp_path: Path) -> None:
    bind(
        sandbox,
        tmp_path,
        leaf(not_before=NOW - dt.timedelta(days=90), not_after=NOW - dt.timedelta(days=2, hours=1)),
    )
    done = check(str(params_file(tmp_path, sandbox)))
    assert done.returncode == CRITICAL, done.stdout
    assert "expired 3 days ago" in done.stdout and "| days=-3;29.3;14.7 lifetime_days=88" in done.stdout


def test_check_is_critical_when_the_certificate_does_not_cover_the_hostname(
    sandbox: Any, tmp_path: Path
) -> None:
    bind(sandbox, tmp_path, leaf("other.example.com"))
    done = check(str(params_file(tmp_path, sandbox)))
    assert done.returncode == CRITICAL, done.stdout
    assert "does not cover localhost (its names: other.example.com)" in done.stdout


def test_check_is_critical_when_served_is_not_the_bound_certificate(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    old = bind(sandbox, tmp_path, leaf())
    sandbox.init(fail="wrong-certificate", start=False)  # HTTP.sys keeps serving the old certificate
    new = bind(sandbox, tmp_path, leaf())
    done = check(str(params_file(tmp_path, sandbox)), "--json")
    assert done.returncode == CRITICAL, done.stdout
    record = json.loads(done.stdout)
    assert record["served"]["thumbprint"] == old and record["bound"]["thumbprint"] == new
    assert record["reasons"] == [f"served certificate {old} is not the bound one {new} (0.0.0.0:443)"]


def test_check_is_unknown_when_nothing_listens(tmp_path: Path) -> None:
    port = free_port()
    done = check("--url", f"https://127.0.0.1:{port}", "--hostname", "localhost")
    assert done.returncode == UNKNOWN
    assert done.stdout.strip() == (
        f"CERT UNKNOWN - localhost: cannot read a certificate from 127.0.0.1:{port}: Connection refused"
    )
    assert done.stderr == ""


def test_check_is_unknown_for_a_sandbox_that_never_served_https(sandbox: Any, tmp_path: Path) -> None:
    done = check(str(params_file(tmp_path, sandbox)))
    assert done.returncode == UNKNOWN
    assert "no listener for port 443" in done.stdout


def test_check_never_creates_a_sandbox(tmp_path: Path) -> None:
    missing = tmp_path / "no-sandbox"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"sandbox_dir": str(missing)}))
    done = check(str(path))
    assert done.returncode == UNKNOWN and "is not a sandbox host" in done.stdout
    assert not missing.exists()


def test_check_by_url_reads_the_sandbox_portal_without_a_parameter_file(sandbox: Any, tmp_path: Path) -> None:
    bind(sandbox, tmp_path, leaf(not_after=NOW + dt.timedelta(days=10, hours=2)))
    port = sandbox.status()["port_map"][443]
    done = check("--url", f"https://127.0.0.1:{port}/", "--hostname", "localhost")
    assert done.returncode == OK, done.stdout  # 10 of its 11 days left
    absolute = ("--warn-days", "30", "--critical-days", "7")  # given explicitly: absolute days
    done = check("--url", f"https://127.0.0.1:{port}/", "--hostname", "localhost", *absolute, "--json")
    assert done.returncode == WARNING, done.stdout
    record = json.loads(done.stdout)
    assert record["message"].endswith("| days=10;30;7") and record["thresholds"]["rule"] == "absolute"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--url", "http://x.example.com"], "CHECK_URL_INVALID"),
        (["--url", "https://x.example.com:99999"], "CHECK_URL_INVALID"),
        (["--url", "https://127.0.0.1:1", "--warn-days", "5", "--critical-days", "9"], "--critical-days"),
        (["--url", "https://127.0.0.1:1", "--warn-days", "soon"], "invalid int value"),
        (["/no/such/params.yaml"], "FILE_NOT_FOUND"),
        (["--url", "https://127.0.0.1:1", "--timeout", "0"], "--timeout must be a positive finite number"),
        (["--url", "https://127.0.0.1:1", "--timeout", "nan"], "--timeout must be a positive finite number"),
        (["--url", "https://127.0.0.1:1", "--timeout", "inf"], "--timeout must be a positive finite number"),
        (
            ["--url", "https://127.0.0.1:1", "--timeout", "1e400"],
            "--timeout must be a positive finite number",
        ),
        (
            ["--url", "https://127.0.0.1:1", "--timeout", "1e300"],
            "--timeout must be a positive finite number",
        ),
        ([], "give either a parameter file or --url"),
    ],
)
def test_check_bad_input_is_unknown_with_a_message_never_a_traceback(args: list[str], said: str) -> None:
    done = check(*args)
    assert done.returncode == UNKNOWN
    assert LINE.match(done.stdout.strip()) and said in done.stdout, done.stdout
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"https_port": 99999}, "PORT_INVALID"),
        ({"target": "linux"}, "TARGET_INVALID"),  # nginx is a target since issue 12
        ({"hostname": "not a host"}, "HOSTNAME_INVALID"),
        ({"https_port": "four-four-three"}, "PARAMETER_INVALID"),
    ],
)
def test_check_bad_parameter_file_is_unknown(tmp_path: Path, values: dict[str, Any], code: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"sandbox_dir": str(tmp_path / "sb"), **values}))
    done = check(str(path))
    assert done.returncode == UNKNOWN and code in done.stdout, done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_check_refuses_a_secret_looking_parameter_as_unknown(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("pfx_password: hunter2\n")
    done = check(str(path))
    assert done.returncode == UNKNOWN and "PARAMETER_LOOKS_SECRET" in done.stdout
    assert "hunter2" not in done.stdout + done.stderr


def test_check_after_the_three_runbooks_warns_for_a_pem_that_expires_soon(
    sandbox: Any, tmp_path: Path, params_for: Any
) -> None:
    from octorunbook.headless.inline import run_inline

    cert = lived(90, left=dt.timedelta(days=25, hours=3))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "portal.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "portal.key"))
    values = {
        "certificate_source": "pem",
        "pem_cert_path": str(tmp_path / "portal.pem"),
        "pem_key_path": str(tmp_path / "portal.key"),
    }
    params = params_for(sandbox, **values)
    for runbook in ("01-import-certificate", "02-verify-certificate", "03-add-https-binding"):
        record = run_inline(runbook, params)
        assert record["status"] == "succeeded", (runbook, record["findings"])
    done = check(str(params_file(tmp_path, sandbox, **values)))
    assert done.returncode == WARNING, done.stdout
    assert "expires in 25 days" in done.stdout


# -- the rules, without a portal ---------------------------------------------------------------------
def served(*names: str, days: float = 90, ips: tuple[str, ...] = ()) -> ServedCertificate:
    return ServedCertificate(
        thumbprint="AB" * 20,
        subject="CN=x",
        dns_names=names,
        ip_addresses=ips,
        not_before=NOW - dt.timedelta(days=1),
        not_after=NOW + dt.timedelta(days=days),
        tls_version="TLSv1.3",
    )


@pytest.mark.parametrize(
    ("names", "hostname", "covered"),
    [
        (("portal.example.com",), "PORTAL.example.com", True),
        (("*.example.com",), "portal.example.com", True),
        (("*.example.com",), "a.portal.example.com", False),
        (("*.example.com",), "example.com", False),
        (("octopus.example.com",), "portal.example.com", False),
        ((), "portal.example.com", False),
    ],
)
def test_hostname_coverage_follows_browsers(names: tuple[str, ...], hostname: str, covered: bool) -> None:
    assert served(*names).covers(hostname) is covered


def test_an_ip_hostname_needs_an_ip_san() -> None:
    assert served("localhost", ips=("127.0.0.1",)).covers("127.0.0.1")
    assert not served("127.0.0.1").covers("127.0.0.1")


@pytest.mark.parametrize(
    ("days", "status"), [(30.5, OK), (29.5, WARNING), (7.5, WARNING), (6.5, CRITICAL), (-0.1, CRITICAL)]
)
def test_thresholds_are_within_n_days(days: float, status: int) -> None:
    result = judge(
        served("a.example.com", days=days),
        "a.example.com",
        warn_days=30,
        critical_days=7,
        endpoint="e",
        now=NOW,
    )
    assert result.status == status


# -- the Prometheus textfile ---------------------------------------------------------------------------
def test_prometheus_textfile_has_help_type_and_escaped_labels(tmp_path: Path) -> None:
    result = judge(
        served('we"ird\\name.example.com', days=20),
        'we"ird\\name.example.com',
        warn_days=30,
        critical_days=7,
        endpoint="e",
        now=NOW,
    )
    path = write_textfile(result, tmp_path / "octorunbook.prom")
    text = path.read_text()
    assert text == prometheus_text(result) and text.endswith("\n")
    assert [p.name for p in tmp_path.iterdir()] == ["octorunbook.prom"]  # no temporary file left
    lines = text.splitlines()
    samples = [line for line in lines if not line.startswith("#")]
    label = 'hostname="we\\"ird\\\\name.example.com"'
    assert samples == [
        f'octorunbook_certificate_expiry_seconds{{{label},thumbprint="{"AB" * 20}"}} {20 * 86400}',
        f'octorunbook_certificate_not_after_timestamp_seconds{{{label},thumbprint="{"AB" * 20}"}} '
        f"{int((NOW + dt.timedelta(days=20)).timestamp())}",
        f"octorunbook_certificate_check_status{{{label}}} 1",
        f"octorunbook_certificate_check_timestamp_seconds{{{label}}} {int(NOW.timestamp())}",
    ]
    for index, sample in enumerate(lines):
        if not sample.startswith("#"):
            name = sample.split("{", 1)[0]
            assert lines[index - 2].startswith(f"# HELP {name} ")
            assert lines[index - 1] == f"# TYPE {name} gauge"


def test_prometheus_file_from_the_cli_reports_unknown_without_a_certificate(tmp_path: Path) -> None:
    target = tmp_path / "octorunbook.prom"
    done = check(
        "--url", f"https://127.0.0.1:{free_port()}", "--hostname", "localhost", "--prometheus", str(target)
    )
    assert done.returncode == UNKNOWN
    assert 'octorunbook_certificate_check_status{hostname="localhost"} 3' in target.read_text()
    assert "octorunbook_certificate_expiry_seconds" not in target.read_text()


def test_prometheus_file_must_end_in_prom(tmp_path: Path) -> None:
    result = judge(served("a.example.com"), "a.example.com", warn_days=30, critical_days=7, endpoint="e")
    with pytest.raises(OctorunbookError, match="^PROMETHEUS_FILE_INVALID:"):
        write_textfile(result, tmp_path / "octorunbook.txt")
    assert list(tmp_path.iterdir()) == []


# -- fast start ------------------------------------------------------------------------------------------
HEAVY = ("nbformat", "papermill", "nbconvert", "nbclient", "ipywidgets", "IPython", "ipykernel", "jupyter")


def test_check_imports_nothing_heavy(sandbox: Any, tmp_path: Path) -> None:
    bind(sandbox, tmp_path, leaf())
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "octorunbook.cli.main",
            "check",
            str(params_file(tmp_path, sandbox)),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == OK, done.stdout
    imported = {
        line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }
    assert "octorunbook.evidence.check" in imported and "cryptography.x509" in imported
    heavy = sorted(m for m in imported if m.split(".")[0].startswith(HEAVY))
    assert heavy == []


# -- Windows: the same check through the stand-in netsh and PowerShell, read-only ---------------------------
@pytest.mark.windows
def test_check_on_windows_reads_the_binding_with_netsh_and_changes_nothing(
    fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64
    import ssl
    import threading

    from octorunbook.evidence.check import check_params
    from octorunbook.params.core import Parameters

    try:
        from fakes import OCTOPUS_APP_ID
    except ImportError:  # tests/ imported as a package
        from tests.fakes import OCTOPUS_APP_ID

    served_cert = leaf(
        "octopus.example.com",
        not_before=NOW - dt.timedelta(days=30),
        not_after=NOW + dt.timedelta(days=5, hours=1),
    )
    bound_cert = leaf("octopus.example.com")
    bound = x509.load_pem_x509_certificate(bound_cert.cert_chain_pems[0].bytes())
    from cryptography.hazmat.primitives import hashes

    bound_thumbprint = bound.fingerprint(hashes.SHA1()).hex().upper()
    (fake.store_dir("My") / f"{bound_thumbprint}.json").write_text(
        json.dumps(
            {
                "der": base64.b64encode(bound.public_bytes(serialization.Encoding.DER)).decode(),
                "has_key": True,
                "key_pem": bound_cert.private_key_pem.bytes().decode(),
                "exportable": False,
                "key_kind": "CryptoAPI",
                "key_provider": "Microsoft Enhanced RSA and AES Cryptographic Provider",
            }
        )
    )
    port = free_port()
    fake.bind(f"0.0.0.0:{port}", bound_thumbprint, OCTOPUS_APP_ID)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served_cert.configure_cert(context)  # HTTP.sys still serving an older certificate than the bound one
    listener = socket.create_server(("127.0.0.1", port))

    def serve_one() -> None:
        connection, _ = listener.accept()
        try:
            with context.wrap_socket(connection, server_side=True):
                pass
        except (OSError, ssl.SSLError):
            pass

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        result = check_params(Parameters(target="windows", hostname="octopus.example.com", https_port=port))
    finally:
        thread.join(10)
        listener.close()
    assert result.status == CRITICAL
    assert result.bound is not None and result.bound.thumbprint == bound_thumbprint
    assert result.bound.not_after is not None  # read back from LocalMachine\My by get-certificate.ps1
    assert result.served is not None and result.served.thumbprint != bound_thumbprint
    assert any("is not the bound one" in reason for reason in result.reasons)
    assert any("expires in 5 days" in reason for reason in result.reasons)
    assert fake.argvs("netsh") == [["http", "show", "sslcert", f"ipport=0.0.0.0:{port}"]]
    scripts = [Path(argv[5]).name for argv in fake.argvs("powershell")]
    assert scripts == ["get-certificate.ps1"]  # reads only: no Octopus.Server.exe needed
    assert fake.octopus_state() == {}
