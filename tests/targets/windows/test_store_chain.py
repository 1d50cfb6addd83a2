"""Contract tests for issue 11, defects 1 and 4: the PFX's chain goes into LocalMachine\\CA, a failed
import leaves nothing behind, through the stand-in ``powershell`` (real subprocesses, exact argv)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from octorunbook.commands import CommandRunner
from octorunbook.redaction import Secret
from octorunbook.targets.windows import WindowsCertificateStore
from octorunbook.targets.windows.powershell import script_path

try:
    from fakes import FakeWindows, raises_code
except ImportError:  # tests/ is a package
    from tests.fakes import FakeWindows, raises_code

pytestmark = pytest.mark.windows

PASSWORD = "pfx-password-for-chain-tests"


def _thumb(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA1()).hex().upper()


@pytest.fixture
def chain_pfx(tmp_path: Path) -> tuple[Path, x509.Certificate, x509.Certificate, x509.Certificate]:
    """leaf (with key) <- intermediate <- self-signed root, all in one PFX, as a CA hands it out."""
    root_ca = trustme.CA()
    intermediate_ca = root_ca.create_child_ca()
    issued = intermediate_ca.issue_cert("octopus.example.com")
    pems = [x509.load_pem_x509_certificate(b.bytes()) for b in issued.cert_chain_pems]
    leaf, intermediate = pems[0], pems[1]
    root = x509.load_pem_x509_certificate(root_ca.cert_pem.bytes())
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), None)
    path = tmp_path / "chain.pfx"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"octopus",
            key,
            leaf,
            [intermediate, root],
            BestAvailableEncryption(PASSWORD.encode()),  # type: ignore[arg-type]
        )
    )
    return path, leaf, intermediate, root


@pytest.fixture
def store(runner: CommandRunner) -> WindowsCertificateStore:
    return WindowsCertificateStore(runner)


def test_intermediates_go_into_the_ca_store_and_the_root_is_reported_not_installed(
    fake: FakeWindows, store: WindowsCertificateStore, chain_pfx: tuple[Path, x509.Certificate, ...]
) -> None:
    path, leaf, intermediate, root = chain_pfx
    stored = store.import_pfx(path, Secret(PASSWORD), "My")
    assert stored.thumbprint == _thumb(leaf)
    assert stored.chain_added == (_thumb(intermediate),)
    assert (fake.store_dir("CA") / f"{_thumb(intermediate)}.json").exists()
    assert not (fake.store_dir("CA") / f"{_thumb(root)}.json").exists()
    assert not (fake.root / "stores" / "Root").exists()
    assert len(stored.roots_not_added) == 1 and stored.roots_not_added[0].startswith(_thumb(root))
    assert stored.to_record()["chain_added"] == [_thumb(intermediate)]
    assert fake.argvs("powershell")[-1][-4:] == ["-StoreName", "My", "-FilePath", str(path.resolve())]


def test_rollback_removes_only_the_intermediates_this_import_added(
    fake: FakeWindows, runner: CommandRunner, chain_pfx: tuple[Path, x509.Certificate, ...]
) -> None:
    path, leaf, intermediate, _ = chain_pfx
    WindowsCertificateStore(runner).import_pfx(path, Secret(PASSWORD), "My")
    (
        fake.store_dir("My") / f"{_thumb(leaf)}.json"
    ).unlink()  # a second run: the intermediate is there already
    second = WindowsCertificateStore(runner)
    assert second.import_pfx(path, Secret(PASSWORD), "My").chain_added == ()
    second.remove_certificate(_thumb(leaf), "My")
    assert (fake.store_dir("CA") / f"{_thumb(intermediate)}.json").exists()

    first = WindowsCertificateStore(runner)
    (fake.store_dir("CA") / f"{_thumb(intermediate)}.json").unlink()
    assert first.import_pfx(path, Secret(PASSWORD), "My").chain_added == (_thumb(intermediate),)
    first.remove_certificate(_thumb(leaf), "My")
    assert list(fake.store_dir("CA").glob("*.json")) == [] and list(fake.store_dir("My").glob("*.json")) == []
    removals = [a[-3:] for a in fake.argvs("powershell") if Path(a[5]).name == "remove-certificate.ps1"]
    assert removals[-2:] == [["My", "-Thumbprint", _thumb(leaf)], ["CA", "-Thumbprint", _thumb(intermediate)]]


def test_a_failed_read_back_leaves_nothing_behind(
    fake: FakeWindows, store: WindowsCertificateStore, chain_pfx: tuple[Path, x509.Certificate, ...]
) -> None:
    path, *_ = chain_pfx
    fake.scenario("readback_without_key")
    with raises_code("PFX_NO_PRIVATE_KEY") as caught:
        store.import_pfx(path, Secret(PASSWORD), "My")
    assert list(fake.store_dir("My").glob("*.json")) == [] and list(fake.store_dir("CA").glob("*.json")) == []
    assert caught.value.finding.details["result"]["cleanup"]["keys_deleted"] == 1
    assert "left behind" not in caught.value.message


def test_what_a_failed_import_could_not_remove_is_said_loudly(
    fake: FakeWindows, store: WindowsCertificateStore, chain_pfx: tuple[Path, x509.Certificate, ...]
) -> None:
    path, leaf, *_ = chain_pfx
    fake.scenario("readback_without_key", "cleanup_fails")
    with raises_code("PFX_NO_PRIVATE_KEY") as caught:
        store.import_pfx(path, Secret(PASSWORD), "My")
    assert f"left behind: key of {_thumb(leaf)}" in caught.value.message
    assert "certlm.msc" in caught.value.remedy


def _code(name: str) -> str:
    text = re.sub(r"<#.*?#>", "", script_path(name).read_text(encoding="utf-8"), flags=re.S)
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def test_the_import_script_adds_the_chain_to_ca_never_to_root() -> None:
    code = _code("import-pfx.ps1")
    assert "Open-OctorunbookStore -Name 'CA' -Write $true" in code
    assert "'Root'" not in code and "AuthRoot" not in code
    assert "Test-OctorunbookSelfSigned" in code and "roots_not_added" in code


def test_the_import_script_cleans_up_every_failure_after_the_keys_exist() -> None:
    code = _code("import-pfx.ps1")
    # after the try/catch, whatever the outcome: undo unless the read-back succeeded
    tail = code[code.rindex("\ncatch {") :]
    assert "if (-not $succeeded -and $null -ne $collection)" in tail
    assert "Undo-OctorunbookImport" in tail and tail.index("Undo-OctorunbookImport") < tail.index(
        "ConvertTo-OctorunbookJson"
    )
    undo = _code("_common.ps1")
    assert "PersistKeyInCsp = $false" in undo and ".Key.Delete()" in undo


# -- the sandbox models the same: intermediates into its CA store, the portal sends what it can build --------
def test_the_sandbox_store_puts_intermediates_into_ca_and_the_portal_serves_the_chain(
    tmp_path: Path, chain_pfx: tuple[Path, x509.Certificate, ...]
) -> None:
    import socket
    import ssl
    import threading

    from octorunbook.targets.sandbox.portal import served_chain
    from octorunbook.targets.sandbox.store import DirectoryCertificateStore

    path, leaf, intermediate, root = chain_pfx
    stores = tmp_path / "stores"
    (stores / "My").mkdir(parents=True)
    stored = DirectoryCertificateStore(stores).import_pfx(path, Secret(PASSWORD), "My")
    assert stored.chain_added == (_thumb(intermediate),)
    assert stored.roots_not_added and stored.roots_not_added[0].startswith(_thumb(root))
    assert len(x509.load_pem_x509_certificates((stores / "My" / f"{_thumb(leaf)}.pem").read_bytes())) == 1
    assert sorted(p.stem for p in (stores / "CA").glob("*.pem")) == [_thumb(intermediate)]

    chain_file = served_chain(stores / "My" / f"{_thumb(leaf)}.pem", stores / "CA", tmp_path)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(chain_file, stores / "My" / f"{_thumb(leaf)}.key")
    client = ssl.create_default_context(cadata=root.public_bytes(serialization.Encoding.PEM).decode())
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        conn, _ = listener.accept()
        try:
            with server.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        # Trusting only the root: this validates only if the intermediate is sent.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with client.wrap_socket(raw, server_hostname="octopus.example.com") as tls:
                assert tls.getpeercert()["subject"]
    finally:
        listener.close()
        thread.join(timeout=5)


def test_with_nothing_in_ca_the_portal_serves_the_leaf_alone_without_importing_cryptography(
    tmp_path: Path,
) -> None:
    """A self-signed binding (most rehearsals): the served chain is the leaf's first PEM block, byte for
    byte the certificate in the store; text around it and a second block are not served; a file with no
    certificate serves nothing OpenSSL can load. The portal's process imports no cryptography for it."""
    import subprocess
    import sys

    ca = trustme.CA()
    leaf_pem = ca.issue_cert("localhost").cert_chain_pems[0].bytes()
    store = tmp_path / "My"
    store.mkdir()
    (store / "LEAF.pem").write_bytes(
        b"Bag Attributes\n  friendlyName: portal\n" + leaf_pem + ca.cert_pem.bytes()
    )
    (store / "EMPTY.pem").write_bytes(b"not a certificate\n")
    (store / "OLD.pem").write_bytes(leaf_pem.replace(b" CERTIFICATE-----", b" X509 CERTIFICATE-----"))
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from octorunbook.targets.sandbox.portal import served_chain\n"
        "store, work = Path(sys.argv[1]), Path(sys.argv[2])\n"
        "for name in ('LEAF', 'EMPTY', 'OLD'):\n"
        "    print(served_chain(store / f'{name}.pem', store.parent / 'CA', work))\n"
        "print('cryptography' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(store), str(tmp_path)], capture_output=True, text=True, check=True
    )
    served, empty, old_label, imported = done.stdout.split()
    assert imported == "False"
    assert (
        Path(old_label).read_bytes().startswith(b"-----BEGIN X509 CERTIFICATE-----")
    )  # as cryptography reads
    (certificate,) = x509.load_pem_x509_certificates(Path(served).read_bytes())
    assert certificate == x509.load_pem_x509_certificate(leaf_pem)
    assert Path(empty).read_bytes() == b""
