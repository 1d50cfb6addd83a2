"""``LocalMachineStore``: the import semantics every LocalMachine driver shares, over a recording driver
(the one-time PFX, its encryption by Windows build, PFX_NO_PRIVATE_KEY, the key proof, siblings), and
the same store over the sandbox's folder driver."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12

from octorunbook import certificates
from octorunbook.findings import OctorunbookError, TargetError
from octorunbook.redaction import Secret
from octorunbook.targets.base import KeyCheck
from octorunbook.targets.localmachine import LocalMachineStore
from octorunbook.targets.protocols import CertificateStore, StoredCertificate
from octorunbook.targets.sandbox.store import DirectoryCertificateStore


def _loaded(tmp_path: Path) -> certificates.LoadedCertificate:
    issued = trustme.CA().issue_cert("octopus.example.com")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_bytes(b"".join(p.bytes() for p in issued.cert_chain_pems))
    key.write_bytes(issued.private_key_pem.bytes())
    return certificates.load_pem_pair(str(cert), str(key))


class RecordingDriver:
    """Records what the store hands it; the PFX is read while it still exists."""

    def __init__(self, *, with_key: bool = True, key_error: OctorunbookError | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.pfx: dict[str, Any] = {}
        self.with_key = with_key
        self.key_error = key_error

    def store_exists(self, store: str) -> bool:
        self.calls.append(("store_exists", store))
        return store == "My"

    def import_pfx(
        self, pfx_path: Path, password: Secret, store: str, *, exportable: bool = False
    ) -> StoredCertificate:
        self.calls.append(("import_pfx", store, exportable))
        folder = pfx_path.parent
        self.pfx = {
            "path": pfx_path,
            "file_mode": stat.S_IMODE(pfx_path.stat().st_mode),
            "folder_mode": stat.S_IMODE(folder.stat().st_mode),
            "data": pfx_path.read_bytes(),
            "password": password.reveal(),
        }
        _, cert, _ = pkcs12.load_key_and_certificates(self.pfx["data"], password.reveal().encode())
        assert cert is not None
        thumb = cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - Windows thumbprints are SHA-1
        stored = StoredCertificate(thumb, store, "CN=x", (), "", "", self.with_key)
        return replace(stored, chain_added=("AB" * 20,), roots_not_added=("CD" * 20 + " CN=root",))

    def get_certificate(self, thumbprint: str, store: str) -> StoredCertificate | None:
        self.calls.append(("get_certificate", thumbprint, store))
        return None

    def list_certificates(self, store: str) -> list[StoredCertificate]:
        self.calls.append(("list_certificates", store))
        return []

    def test_private_key(self, thumbprint: str, store: str) -> KeyCheck:
        self.calls.append(("test_private_key", thumbprint, store))
        if self.key_error is not None:
            raise self.key_error
        return KeyCheck(False, "RSA 2048", "prov", "the signature does not verify")

    def remove_certificate(self, thumbprint: str, store: str) -> None:
        self.calls.append(("remove_certificate", thumbprint, store))

    def certificate_pem(self, thumbprint: str, store: str) -> bytes | None:
        self.calls.append(("certificate_pem", thumbprint, store))
        return None


def test_it_is_a_certificate_store_of_the_localmachine_family() -> None:
    store = LocalMachineStore(RecordingDriver(), "My")
    assert isinstance(store, CertificateStore)
    assert (store.name, store.family, store.kind) == ("My", "localmachine", "RecordingDriver")


def test_add_imports_a_one_time_pfx_that_is_private_and_gone_afterwards(tmp_path: Path) -> None:
    driver = RecordingDriver()
    stored = LocalMachineStore(driver, "My").add(_loaded(tmp_path), exportable=True)
    assert driver.calls == [("import_pfx", "My", True)]
    assert driver.pfx["file_mode"] == 0o600 and driver.pfx["folder_mode"] == 0o700
    assert len(driver.pfx["password"]) >= 24
    assert not driver.pfx["path"].exists() and not driver.pfx["path"].parent.exists()
    assert stored.chain_added == ("AB" * 20,) and stored.roots_not_added == ("CD" * 20 + " CN=root",)


def _pfx_iterations(data: bytes, password: str, tmp_path: Path) -> list[str]:
    """The iteration counts ``openssl pkcs12 -info`` reports for a PFX (bags and MAC)."""
    path = tmp_path / "read.pfx"
    path.write_bytes(data)
    done = subprocess.run(
        ["openssl", "pkcs12", "-info", "-noout", "-in", str(path), "-passin", "env:PFX_PASS"],
        env={**os.environ, "PFX_PASS": password},
        capture_output=True,
        text=True,
        check=True,
    )
    return re.findall(r"[Ii]teration:? (\d+)", done.stdout + done.stderr)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="reads the PFX with the openssl command")
@pytest.mark.parametrize("encryption", ["compatible", "aes"])
def test_the_one_time_pfx_is_not_stretched_and_a_pfx_an_operator_keeps_is(
    tmp_path: Path, encryption: str
) -> None:
    """The import's own PFX (random password, used once) at OpenSSL's default 2048 rounds; a PFX written
    for an operator (``certificate new --out``, export_pfx's default) at 50000."""
    from octorunbook.certificates import PFX_KDF_ROUNDS, export_pfx

    driver = RecordingDriver()
    LocalMachineStore(driver, "My", pfx_encryption=lambda: encryption, windows_build=lambda: 20348).add(
        _loaded(tmp_path)
    )
    one_time = _pfx_iterations(driver.pfx["data"], driver.pfx["password"], tmp_path)
    assert one_time and set(one_time) == {"2048"}, one_time
    kept = export_pfx(_loaded(tmp_path), Secret("a person chose this"), encryption)  # type: ignore[arg-type]
    assert str(PFX_KDF_ROUNDS) in _pfx_iterations(kept, "a person chose this", tmp_path)


def test_add_removes_the_pfx_folder_when_the_driver_fails(tmp_path: Path) -> None:
    class Failing(RecordingDriver):
        def import_pfx(
            self, pfx_path: Path, password: Secret, store: str, *, exportable: bool = False
        ) -> Any:
            self.pfx = {"path": pfx_path}
            raise TargetError("IMPORT_FAILED", "no", "no")

    driver = Failing()
    with pytest.raises(TargetError):
        LocalMachineStore(driver, "My").add(_loaded(tmp_path))
    assert not driver.pfx["path"].parent.exists()


@pytest.mark.parametrize(
    ("setting", "build", "expected"),
    [
        ("auto", 14393, "compatible"),
        ("auto", 17763, "aes"),
        ("auto", None, "compatible"),
        ("aes", 14393, "aes"),
    ],
)
def test_the_pfx_encryption_follows_the_setting_and_the_windows_build(
    setting: Any, build: int | None, expected: str
) -> None:
    store = LocalMachineStore(
        RecordingDriver(), "My", windows_build=lambda: build, pfx_encryption=lambda: setting
    )
    assert store.encryption() == expected
    assert store.sibling("WebHosting").encryption() == expected


def test_a_certificate_that_arrives_without_its_key_is_removed_again(tmp_path: Path) -> None:
    driver = RecordingDriver(with_key=False)
    with pytest.raises(TargetError) as caught:
        LocalMachineStore(driver, "WebHosting").add(_loaded(tmp_path))
    assert caught.value.code == "PFX_NO_PRIVATE_KEY"
    assert [c[0] for c in driver.calls] == ["import_pfx", "remove_certificate"]
    assert driver.calls[-1][2] == "WebHosting"


def test_prove_is_the_key_row_with_its_code() -> None:
    unusable = LocalMachineStore(RecordingDriver(), "My").prove("AB" * 20)
    assert [(p.check, p.ok, p.code) for p in unusable] == [("private key usable", False, "KEY_NOT_USABLE")]
    locked = RecordingDriver(
        key_error=TargetError("KEY_NOT_ACCESSIBLE", "Keyset does not exist", "run elevated")
    )
    rows = LocalMachineStore(locked, "My").prove("AB" * 20)
    assert [(p.ok, p.code, p.seen) for p in rows] == [(False, "KEY_NOT_ACCESSIBLE", "Keyset does not exist")]


def test_a_sibling_is_the_named_store_over_the_same_driver() -> None:
    driver = RecordingDriver()
    my = LocalMachineStore(driver, "My")
    assert my.sibling("My") is my
    web = my.sibling("WebHosting")
    assert web.driver is driver and web.name == "WebHosting"
    assert (my.exists(), web.exists()) == (True, False)
    web.get("AB" * 20)
    web.remove("AB" * 20)
    assert driver.calls[-2:] == [
        ("get_certificate", "AB" * 20, "WebHosting"),
        ("remove_certificate", "AB" * 20, "WebHosting"),
    ]


def test_over_the_sandbox_folder_driver_the_key_stays_0600_and_proves(tmp_path: Path) -> None:
    stores = tmp_path / "stores"
    (stores / "My").mkdir(parents=True)
    store = LocalMachineStore(DirectoryCertificateStore(stores), "My")
    stored = store.add(_loaded(tmp_path))
    assert stored.has_private_key and store.get(stored.thumbprint) is not None
    assert stat.S_IMODE(os.stat(stores / "My" / f"{stored.thumbprint}.key").st_mode) == 0o600
    assert [(p.check, p.ok) for p in store.prove(stored.thumbprint)] == [("private key usable", True)]
    assert not store.sibling("WebHosting").exists()
    store.remove(stored.thumbprint)
    assert store.get(stored.thumbprint) is None
