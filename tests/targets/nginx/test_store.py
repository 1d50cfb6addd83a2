"""The PEM-directory store and what 02 proves for nginx: key matches, modes, nginx -t loads the files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from nginxkit import HOSTNAME, issue, needs_nginx

from octorunbook import certificates
from octorunbook.findings import OctorunbookError
from octorunbook.targets.nginx import NginxSandbox, PemDirectoryStore
from octorunbook.targets.protocols import CertificateStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_add_writes_one_directory_per_certificate_with_owner_only_modes(
    ca: trustme.CA, tmp_path: Path
) -> None:
    store = PemDirectoryStore(tmp_path / "certs")
    loaded = issue(ca, tmp_path, "a")

    stored = store.add(loaded)

    assert stored.files is not None and stored.has_private_key
    assert stored.files.fullchain == tmp_path / "certs" / stored.thumbprint / "fullchain.pem"
    assert mode(tmp_path / "certs") == 0o700
    assert mode(stored.files.fullchain.parent) == 0o700
    assert mode(stored.files.privkey) == 0o600
    chain = x509.load_pem_x509_certificates(stored.files.fullchain.read_bytes())
    assert certificates.thumbprint_of(chain[0]) == stored.thumbprint and len(chain) == 2  # leaf, then CA
    assert stored.dns_names == (HOSTNAME,) and stored.store == str(tmp_path / "certs")
    assert [p.name for p in (tmp_path / "certs").iterdir()] == [stored.thumbprint]  # no staging left


def test_a_renewal_gets_its_own_directory_and_leaves_the_served_files_alone(
    ca: trustme.CA, tmp_path: Path
) -> None:
    store = PemDirectoryStore(tmp_path / "certs")
    first = issue(ca, tmp_path, "old")
    old = store.add(first)
    assert old.files is not None
    served = old.files.fullchain.read_bytes(), old.files.privkey.read_bytes()

    new = store.add(issue(ca, tmp_path, "new"))
    again = store.add(first)  # the same certificate once more: idempotent

    assert new.thumbprint != old.thumbprint
    assert (old.files.fullchain.read_bytes(), old.files.privkey.read_bytes()) == served
    assert again == old
    assert sorted(c.thumbprint for c in store.certificates()) == sorted([old.thumbprint, new.thumbprint])
    assert store.certificate_pem(old.thumbprint) == served[0]


def test_store_refuses_a_certificate_without_its_private_key(ca: trustme.CA, tmp_path: Path) -> None:
    loaded = issue(ca, tmp_path, "a")
    keyless = certificates.LoadedCertificate(loaded.certificate, None, loaded.chain, "pem")

    with pytest.raises(OctorunbookError) as caught:
        PemDirectoryStore(tmp_path / "certs").add(keyless)

    assert caught.value.code == "PFX_NO_PRIVATE_KEY"
    assert not (tmp_path / "certs").exists()


def test_prove_passes_for_a_fresh_certificate_and_names_each_check(ca: trustme.CA, tmp_path: Path) -> None:
    store = PemDirectoryStore(tmp_path / "certs")
    stored = store.add(issue(ca, tmp_path, "a"))

    rows = store.prove(stored.thumbprint)

    assert [r.code for r in rows] == ["KEY_MISMATCH", "KEY_FILE_TOO_OPEN", "CERT_DIR_TOO_OPEN"]
    assert all(r.ok for r in rows), rows


def test_prove_flags_a_key_readable_by_others_and_an_open_directory(ca: trustme.CA, tmp_path: Path) -> None:
    store = PemDirectoryStore(tmp_path / "certs")
    stored = store.add(issue(ca, tmp_path, "a"))
    assert stored.files is not None
    os.chmod(stored.files.privkey, 0o644)
    os.chmod(stored.files.privkey.parent, 0o755)

    failed = {r.code: r for r in store.prove(stored.thumbprint) if not r.ok}

    assert set(failed) == {"KEY_FILE_TOO_OPEN", "CERT_DIR_TOO_OPEN"}
    assert failed["KEY_FILE_TOO_OPEN"].seen.startswith("0644")


def test_prove_flags_a_key_that_belongs_to_another_certificate(ca: trustme.CA, tmp_path: Path) -> None:
    store = PemDirectoryStore(tmp_path / "certs")
    one = store.add(issue(ca, tmp_path, "one"))
    other = store.add(issue(ca, tmp_path, "other"))
    assert one.files is not None and other.files is not None
    one.files.privkey.write_bytes(other.files.privkey.read_bytes())

    rows = store.prove(one.thumbprint)

    assert [(r.code, r.ok) for r in rows] == [("KEY_MISMATCH", False)]


def test_prove_of_an_unknown_thumbprint_is_cert_not_found(tmp_path: Path) -> None:
    rows = PemDirectoryStore(tmp_path / "certs").prove("AB" * 20)

    assert [(r.code, r.ok) for r in rows] == [("CERT_NOT_FOUND", False)]
    assert PemDirectoryStore(tmp_path / "certs").get("AB" * 20) is None


def test_pem_store_satisfies_the_certificate_store_protocol(tmp_path: Path) -> None:
    assert isinstance(PemDirectoryStore(tmp_path), CertificateStore)


@needs_nginx
def test_nginx_t_loads_a_good_pair_and_rejects_a_mismatched_key(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path
) -> None:
    store = nginx.store()
    good = store.add(issue(ca, tmp_path, "good"))
    bad = store.add(issue(ca, tmp_path, "bad"))
    assert good.files is not None and bad.files is not None
    front = nginx.front("http://127.0.0.1:8080")
    assert [(r.ok, r.seen) for r in front.prove_can_serve(good)] == [(True, "loaded")]

    bad.files.privkey.write_bytes(good.files.privkey.read_bytes())
    [row] = front.prove_can_serve(bad)

    assert not row.ok and row.code == "NGINX_CANNOT_LOAD_CERTIFICATE"
    assert "key values mismatch" in row.seen  # nginx's own words (OpenSSL's X509_check_private_key)


def test_a_store_directory_that_does_not_exist_yet_is_usable_when_it_can_be_created(tmp_path: Path) -> None:
    assert PemDirectoryStore(tmp_path / "etc" / "octorunbook" / "certs").exists()
    (tmp_path / "file").write_text("")
    assert not PemDirectoryStore(tmp_path / "file" / "certs").exists()
