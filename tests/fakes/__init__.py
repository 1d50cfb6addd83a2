"""Stand-in Windows executables for contract tests, and helpers to install them.

``install(tmp_path, monkeypatch)`` writes three executables into ``tmp_path/bin`` -- ``powershell``,
``netsh`` and ``Octopus.Server.exe`` -- each a small shell wrapper that runs the matching Python
program here with this interpreter, and points ``OCTORUNBOOK_POWERSHELL`` / ``OCTORUNBOOK_NETSH`` at
them. Their state (certificate stores, HTTP.sys bindings, Octopus instances) and the log of every argv
they received live in ``tmp_path/windows`` (``FAKE_WINDOWS_DIR``); ``FAKE_SCENARIO`` picks outcomes.
Windows owners and DACLs of folders and files are kept there too (``acls.json``, ``set_acl``).
"""

from __future__ import annotations

import datetime as dt
import json
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = Path(__file__).resolve().parent
OCTOPUS_APP_ID = "{E2096A4C-2391-4BE1-9F17-E353F930E7F1}"
IIS_APP_ID = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"
PROGRAMS = {
    "powershell": "powershell.py",
    "netsh": "netsh.py",
    "Octopus.Server.exe": "octopus_server.py",
    "sc": "sc.py",
}


@dataclass
class FakeWindows:
    root: Path  # FAKE_WINDOWS_DIR
    bin: Path
    monkeypatch: pytest.MonkeyPatch

    @property
    def powershell(self) -> str:
        return str(self.bin / "powershell")

    @property
    def netsh(self) -> str:
        return str(self.bin / "netsh")

    @property
    def server_exe(self) -> str:
        return str(self.bin / "Octopus.Server.exe")

    def scenario(self, *names: str) -> None:
        self.monkeypatch.setenv("FAKE_SCENARIO", ",".join(names) or "success")

    def calls(self, tool: str | None = None) -> list[dict[str, Any]]:
        path = self.root / "argv.log"
        if not path.exists():
            return []
        entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        return [e for e in entries if tool is None or e["tool"] == tool]

    def argvs(self, tool: str) -> list[list[str]]:
        return [e["argv"] for e in self.calls(tool)]

    def log_text(self) -> str:
        path = self.root / "argv.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def store_dir(self, store: str) -> Path:
        return self.root / "stores" / store

    def bind(self, endpoint: str, certhash: str, appid: str, store: str = "My") -> None:
        path = self.root / "httpsys.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        data[endpoint] = {"hash": certhash.lower(), "appid": appid, "store": store}
        path.write_text(json.dumps(data))

    def bindings(self) -> dict[str, dict[str, str]]:
        path = self.root / "httpsys.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def octopus_state(self) -> dict[str, Any]:
        path = self.root / "octopus.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def set_acl(self, path: Path, entry: dict[str, Any]) -> None:
        """Give ``path`` (a folder or file) a Windows owner and DACL (entries: ``fakes/acl_powershell.py``)."""
        acls = self.acls()
        acls[str(path)] = entry
        (self.root / "acls.json").write_text(json.dumps(acls))

    def acls(self) -> dict[str, Any]:
        path = self.root / "acls.json"
        return json.loads(path.read_text()) if path.exists() else {}


def _wrapper(program: Path) -> str:
    """A sh wrapper that runs ``program`` as Windows runs the tool: imported as a module (its bytecode is
    cached; a script is compiled again at every start) by Python without site, naming the folders it
    imports from (this one first, then octorunbook's and its dependencies'). 62 → 37 ms of CPU a start."""
    from octorunbook.emit import sh_exec
    from octorunbook.targets.sandbox.stand_ins import stand_in_paths

    bootstrap = (
        f"import sys; sys.path[:0] = [{str(program.parent)!r}]; sys.path += {stand_in_paths()!r}; "
        f"import {program.stem} as tool; sys.exit(tool.main(sys.argv[1:]))"
    )
    return f"#!/bin/sh\n{sh_exec([sys.executable, '-S', '-P', '-c', bootstrap])}\n"


def install(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    stores: tuple[str, ...] = ("My", "WebHosting"),
    scenario: str = "success",
) -> FakeWindows:
    """Stand-ins on disk, env pointing at them, stores created; returns the handle tests use."""
    bin_dir = tmp_path / "bin"
    root = tmp_path / "windows"
    bin_dir.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    for name, source in PROGRAMS.items():
        target = bin_dir / name
        target.write_text(_wrapper(HERE / source))
        target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    for store in stores:
        (root / "stores" / store).mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("FAKE_WINDOWS_DIR", str(root))
    monkeypatch.setenv("FAKE_SCENARIO", scenario)
    monkeypatch.setenv("FAKE_OCTOPUS_SERVER_EXE", str(bin_dir / "Octopus.Server.exe"))
    monkeypatch.setenv("OCTORUNBOOK_POWERSHELL", str(bin_dir / "powershell"))
    monkeypatch.setenv("OCTORUNBOOK_NETSH", str(bin_dir / "netsh"))
    monkeypatch.setenv("OCTORUNBOOK_SC", str(bin_dir / "sc"))
    monkeypatch.delenv("OCTORUNBOOK_PFX_PASSWORD_CHILD", raising=False)
    # each stand-in host has its own %ProgramData%: the state folder is created private by this fake
    monkeypatch.setenv("ProgramData", str(tmp_path / "ProgramData"))
    return FakeWindows(root, bin_dir, monkeypatch)


def make_certificate(
    dns: tuple[str, ...] = ("octopus.example.com",),
    *,
    key_type: str = "rsa",
    days: int = 90,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey]:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    key = (
        rsa.generate_private_key(65537, 2048)
        if key_type == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns[0] if dns else "no-san.example")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False
        )
    return builder.sign(key, hashes.SHA256()), key


def thumbprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def make_pfx(
    path: Path,
    password: str,
    *,
    dns: tuple[str, ...] = ("octopus.example.com",),
    with_key: bool = True,
    key_type: str = "rsa",
) -> x509.Certificate:
    """A PFX Windows Server 2016 can read: TripleDES-SHA1 bags, SHA-1 MAC."""
    cert, key = make_certificate(dns, key_type=key_type)
    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())
        .build(password.encode())
    )
    if with_key:
        data = pkcs12.serialize_key_and_certificates(b"octopus", key, cert, None, encryption)
    else:
        data = pkcs12.serialize_key_and_certificates(b"octopus", None, None, [cert], encryption)
    path.write_bytes(data)
    return cert


__all__ = [
    "IIS_APP_ID",
    "OCTOPUS_APP_ID",
    "FakeWindows",
    "install",
    "make_certificate",
    "make_pfx",
    "thumbprint",
]


def raises_code(code: str) -> Any:
    """``pytest.raises`` for an octorunbook error with this stable code."""
    from octorunbook.findings import OctorunbookError

    return pytest.raises(OctorunbookError, match=f"^{code}:")
