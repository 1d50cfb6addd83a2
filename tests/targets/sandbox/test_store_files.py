"""The sandbox certificate store reads its files through the one bounded reader: a FIFO in place of a
key or a PFX is refused (coded), never blocked on."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from octorunbook.findings import OctorunbookError
from octorunbook.redaction import Secret
from octorunbook.targets.sandbox.store import DirectoryCertificateStore


def _within(seconds: float, call: Any) -> BaseException | None:
    """Run ``call`` in a thread; its exception (None if it returned), or fail if it is still blocked."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still blocked after {seconds} s"
    return outcome[0]


def _pfx(tmp_path: Path) -> Path:
    leaf = trustme.CA().issue_cert("localhost")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    path = tmp_path / "leaf.pfx"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"t",
            key,  # type: ignore[arg-type]
            cert,
            None,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    return path


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX thing")
def test_a_fifo_as_the_private_key_or_the_pfx_is_refused(tmp_path: Path) -> None:
    (tmp_path / "stores" / "My").mkdir(parents=True)
    store = DirectoryCertificateStore(tmp_path / "stores")
    stored = store.import_pfx(_pfx(tmp_path), Secret("pw"), "My")
    key = store.private_key_path(stored.thumbprint, "My")
    key.unlink()
    os.mkfifo(key)
    error = _within(20, lambda: store.test_private_key(stored.thumbprint, "My"))
    assert isinstance(error, OctorunbookError) and error.code == "KEY_NOT_ACCESSIBLE"
    fifo_pfx = tmp_path / "fifo.pfx"
    os.mkfifo(fifo_pfx)
    error = _within(20, lambda: store.import_pfx(fifo_pfx, Secret("pw"), "My"))
    assert isinstance(error, OctorunbookError) and error.code == "FILE_NOT_REGULAR"
