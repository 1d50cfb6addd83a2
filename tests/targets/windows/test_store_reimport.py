"""Contract tests for issue 25, item 7: re-importing a certificate that is already in the store.

``X509Store.Add`` of a certificate already present re-points the present certificate to the key the import
just persisted; a cleanup that then deleted "the key files this import created" deleted the key the
present certificate uses. So: a present certificate whose key passes the key test is never added again; one
whose key fails it is re-imported; and a failed import never deletes the key of a certificate that was
present before it. Through the stand-in ``powershell`` and the parsed script text."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

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

PASSWORD = "pfx-password-for-reimport-tests"


@pytest.fixture
def pfx(tmp_path: Path) -> tuple[Path, str]:
    issued = trustme.CA().issue_cert("octopus.example.com")
    leaf = x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes())
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), None)
    path = tmp_path / "leaf.pfx"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"octopus",
            key,
            leaf,
            None,
            BestAvailableEncryption(PASSWORD.encode()),  # type: ignore[arg-type]
        )
    )
    return path, leaf.fingerprint(hashes.SHA1()).hex().upper()


@pytest.fixture
def store(runner: CommandRunner) -> WindowsCertificateStore:
    return WindowsCertificateStore(runner)


def _break_key(fake: FakeWindows, thumbprint: str) -> None:
    """The present certificate's key container is gone (what a deleting cleanup used to leave)."""
    path = fake.store_dir("My") / f"{thumbprint}.json"
    entry = json.loads(path.read_text())
    entry.pop("key_pem")
    path.write_text(json.dumps(entry))


def _reporting(store: WindowsCertificateStore, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What each import-pfx.ps1 prints, from here on."""
    printed: list[dict[str, Any]] = []
    run = store.runner.run

    def recording(argv: list[str], **kwargs: Any) -> Any:
        result = run(argv, **kwargs)
        if any(a.endswith("import-pfx.ps1") for a in argv):
            printed.append(json.loads(result.stdout[result.stdout.index("{") :]))
        return result

    monkeypatch.setattr(store.runner, "run", recording)
    return printed


def test_a_failed_reimport_keeps_the_key_of_the_certificate_that_was_there(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, str]
) -> None:
    path, thumbprint = pfx
    store.import_pfx(path, Secret(PASSWORD), "My")
    fake.scenario("readback_without_key")
    with raises_code("PFX_NO_PRIVATE_KEY") as caught:
        store.import_pfx(path, Secret(PASSWORD), "My")
    cleanup = caught.value.finding.details["result"]["cleanup"]
    assert cleanup["keys_kept"] == [thumbprint] and cleanup["keys_deleted"] == 0
    assert f"keys of {thumbprint} were kept" in caught.value.message
    assert (fake.store_dir("My") / f"{thumbprint}.json").exists(), "the present certificate stays"


def test_a_present_certificate_with_a_working_key_is_kept_and_one_with_a_broken_key_reimported(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, thumbprint = pfx
    store.import_pfx(path, Secret(PASSWORD), "My")
    printed = _reporting(store, monkeypatch)
    again = store.import_pfx(path, Secret(PASSWORD), "My")
    assert again.thumbprint == thumbprint and again.has_private_key
    assert printed[-1]["present_kept"] == [thumbprint] and printed[-1]["present_reimported"] == []
    _break_key(fake, thumbprint)
    repaired = store.import_pfx(path, Secret(PASSWORD), "My")
    assert repaired.has_private_key
    assert printed[-1]["present_kept"] == [] and printed[-1]["present_reimported"] == [thumbprint]
    assert "key_pem" in json.loads((fake.store_dir("My") / f"{thumbprint}.json").read_text())


def _code(name: str) -> str:
    text = re.sub(r"<#.*?#>", "", script_path(name).read_text(encoding="utf-8"), flags=re.S)
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def test_the_script_adds_a_present_certificate_only_when_its_key_fails_the_key_test() -> None:
    code = _code("import-pfx.ps1")
    first_add = code.index("$store.Add($certificate)")
    assert code.index("$presentBefore.Add(") < first_add, "what was present is known before anything is added"
    branches = code[code.index("if ($present.Count -eq 0) {") : code.index("$phase = 'chain'")]
    kept = branches[branches.index("elseif (Test-OctorunbookKeySigns -Certificate $present[0])") :]
    kept, reimported = kept[: kept.index("else {")], kept[kept.index("else {") :]
    assert "$store.Add(" not in kept and "$presentKept.Add(" in kept
    assert "$store.Add($certificate)" in reimported and "$presentReimported.Add(" in reimported
    # the key this import persisted for a kept certificate goes only when it is provably another container
    assert kept.index("$inUse -ne $persisted") < kept.index("Remove-OctorunbookPersistedKey")
    assert "-PresentBefore $presentBefore" in code[code.rindex("Undo-OctorunbookImport") :]


def test_the_cleanup_never_deletes_the_key_of_a_certificate_present_before_the_import() -> None:
    common = _code("_common.ps1")
    undo = common[common.index("function Undo-OctorunbookImport") :]
    undo = undo[: undo.index("\nfunction ")]
    skip = undo.index("if (@($PresentBefore) -contains [string]$certificate.Thumbprint)")
    assert skip < undo.index("Remove-OctorunbookPersistedKey") and "continue" in undo[skip : skip + 200]
    signs = common[common.index("function Test-OctorunbookKeySigns") :]
    signs = signs[: signs.index("\nfunction ")]
    assert "SignData" in signs and "VerifyData" in signs, "the key test signs and verifies, not HasPrivateKey"
