"""Specification of octorunbook.certificates: loading, generating, exporting and judging."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import certcorpus as cc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from octorunbook import certificates as c
from octorunbook.findings import InputError
from octorunbook.redaction import Secret

# Codes that are raised for parameters or store lookups, never by check_file on a file.
NOT_FROM_FILES = {"CERT_NOT_FOUND", "FILE_NOT_FOUND", "FILE_UNREADABLE", "THUMBPRINT_INVALID", "HOSTNAME_INVALID",
                  "VALIDITY_INVALID", "KEY_TYPE_INVALID", "PFX_ENCRYPTION_INVALID"}  # fmt: skip
WARNINGS = {"CERT_EXPIRES_SOON", "CA_CERTIFICATE", "SELF_SIGNED", "CHAIN_INCOMPLETE", "VALIDITY_TOO_LONG",
            "CLIENT_AUTH_EKU", "INTERMEDIATE_RETIRED"}  # fmt: skip


def check(case: cc.Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[c.LoadedCertificate | None, list[c.Finding]]:  # fmt: skip
    if case.password is None:
        monkeypatch.delenv(cc.PASSWORD_ENV, raising=False)
    else:
        monkeypatch.setenv(cc.PASSWORD_ENV, case.password)
    path, key_path = case.write(tmp_path)
    if case.public:  # the corpus root as a root this machine trusts
        bundle = tmp_path / "trusted-roots.pem"
        bundle.write_bytes(cc.pem(cc.ca()[0]))
        monkeypatch.setenv("OCTORUNBOOK_PUBLIC_ROOTS", str(bundle))
    else:
        monkeypatch.delenv("OCTORUNBOOK_PUBLIC_ROOTS", raising=False)
    return c.check_file(
        path, hostname=case.hostname, password_env=cc.PASSWORD_ENV, key_path=key_path, now=cc.NOW
    )


def openssl_info(data: bytes, tmp_path: Path) -> str:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: cannot cross-check the PFX encryption")
    (tmp_path / "x.pfx").write_bytes(data)
    argv = [
        openssl,
        "pkcs12",
        "-info",
        "-noout",
        "-in",
        str(tmp_path / "x.pfx"),
        "-passin",
        "env:INFO_PFX_PASSWORD",
    ]
    done = subprocess.run(
        argv, env={**os.environ, "INFO_PFX_PASSWORD": cc.PASSWORD}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert cc.PASSWORD not in " ".join(argv)
    return done.stdout + done.stderr


# --- the corpus: exact codes ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", cc.CASE_NAMES)
def test_check_file_reports_exactly_the_codes_the_corpus_expects(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    case = cc.case(name)
    _, findings = check(case, tmp_path, monkeypatch)
    assert {f.code for f in findings} == case.expected, [f.message for f in findings]


def test_corpus_covers_every_code_a_file_can_produce() -> None:
    produced = {code for name in cc.CASE_NAMES if "rc2" not in name for code in cc.case(name).expected}
    assert produced == set(c.CODES) - NOT_FROM_FILES


def test_every_finding_has_a_known_code_the_documented_severity_and_a_remedy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    for name in cc.CASE_NAMES:
        if "rc2" in name:
            continue
        for finding in check(cc.case(name), tmp_path, monkeypatch)[1]:
            assert finding.code in c.CODES
            assert finding.severity == ("warning" if finding.code in WARNINGS else "error")
            assert finding.message and finding.remedy


def test_legacy_rc2_pfx_reads_as_wrong_password_when_the_legacy_provider_is_off(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pfx"
    path.write_bytes(cc.case("legacy_rc2_pfx").data)
    script = (
        "import sys\nfrom octorunbook.certificates import load_pfx_file\nfrom octorunbook.redaction import Secret\n"
        "try:\n    load_pfx_file(sys.argv[1], Secret(sys.stdin.read()))\nexcept Exception as e:\n    print(e)\n"
    )
    env = {**os.environ, "CRYPTOGRAPHY_OPENSSL_NO_LEGACY": "1"}
    done = subprocess.run([sys.executable, "-c", script, str(path)], input=cc.PASSWORD, env=env, capture_output=True, text=True)  # fmt: skip
    assert done.stdout.startswith("PFX_WRONG_PASSWORD"), done.stdout + done.stderr
    assert "RC2" in done.stdout and "CRYPTOGRAPHY_OPENSSL_NO_LEGACY is set here" in done.stdout


# --- thumbprints and inspection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pasted",
    [
        "\u200ea1 b2 c3 d4 e5 f6 07 18 29 3a 4b 5c 6d 7e 8f 90 a1 b2 c3 d4",
        "A1:B2:C3:D4:E5:F6:07:18:29:3A:4B:5C:6D:7E:8F:90:A1:B2:C3:D4",
        "\ufeffa1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4\u200f\u200b",
        "  A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4\n",
    ],
)
def test_normalize_thumbprint_accepts_what_operators_paste_from_mmc_powershell_and_certutil(
    pasted: str,
) -> None:
    assert c.normalize_thumbprint(pasted) == "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4"


@pytest.mark.parametrize(
    "bad",
    ["", "A1B2", "G1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4", "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4AA"],
)
def test_normalize_thumbprint_refuses_anything_but_forty_hex_digits(bad: str) -> None:
    with pytest.raises(InputError) as caught:
        c.normalize_thumbprint(bad)
    assert caught.value.code == "THUMBPRINT_INVALID"


def test_thumbprint_is_the_upper_case_sha1_of_the_der_as_windows_shows_it() -> None:
    cert = cc.leaf()
    assert c.thumbprint_of(cert) == cert.fingerprint(hashes.SHA1()).hex().upper()
    assert len(c.thumbprint_of(cert)) == 40


def test_inspect_reports_names_validity_key_and_signature_in_windows_terms() -> None:
    info = c.inspect(cc.leaf(cc.ec_key(), names=["octopus.example.com", "10.0.0.1", "*.corp.example.com"]))
    assert info.dns_names == ("octopus.example.com", "*.corp.example.com")
    assert info.key_description == "ECDSA P-256"
    assert info.signature_algorithm == "sha256WithRSAEncryption"
    assert info.subject == "CN=octopus.example.com" and info.issuer == "CN=Corpus Root CA"
    assert info.not_before.tzinfo is not None and not info.self_signed and not info.is_ca
    assert info.eku_oids == (ExtendedKeyUsageOID.SERVER_AUTH.dotted_string,)
    assert c.inspect(cc.leaf(no_eku=True)).eku_oids == ()
    assert c.inspect(cc.leaf(rsa_key := cc.rsa_key())).key_description == f"RSA {rsa_key.key_size}"


def test_certificate_record_is_json_ready_with_iso_utc_dates() -> None:
    info = c.inspect(cc.leaf())
    record = info.to_record(store="WebHosting")
    assert record["not_after"] == info.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert record["store"] == "WebHosting" and record["dns_names"] == [cc.HOST]
    assert set(record) == {"thumbprint", "subject", "issuer", "dns_names", "not_before", "not_after", "store",
                           "serial_number", "key", "signature", "self_signed", "is_ca", "eku_oids", "days_left"}  # fmt: skip


def test_days_left_counts_whole_days_and_goes_negative_after_expiry() -> None:
    info = c.inspect(cc.leaf(starts=timedelta(days=-1), days=11))
    assert info.days_left(cc.NOW) == 10
    assert info.days_left(cc.NOW + timedelta(days=12)) == -2


# --- loading --------------------------------------------------------------------------------------------


def test_wrong_password_message_names_both_causes_wrong_password_and_unreadable_encryption() -> None:
    with pytest.raises(InputError) as caught:
        c.load_pfx(cc.good_pfx(), Secret("nope"))
    assert caught.value.code == "PFX_WRONG_PASSWORD"
    assert "password is wrong" in caught.value.message and "RC2" in caught.value.message


def test_load_pfx_refuses_pfx_without_private_key() -> None:
    with pytest.raises(InputError) as caught:
        c.load_pfx(cc.case("pfx_without_key").data, Secret(cc.PASSWORD))
    assert caught.value.code == "PFX_NO_PRIVATE_KEY"


def test_load_pfx_keeps_the_leaf_matched_to_the_key_and_the_rest_as_chain() -> None:
    loaded = c.load_pfx(cc.good_pfx(), Secret(cc.PASSWORD))
    assert loaded.source == "pfx" and loaded.info.dns_names == (cc.HOST,)
    assert [x.subject for x in loaded.chain] == [cc.ca()[0].subject]


def test_load_pfx_file_reports_missing_files_and_folders_as_input_errors(tmp_path: Path) -> None:
    for path, code in [(tmp_path / "nope.pfx", "FILE_NOT_FOUND"), (tmp_path, "FILE_UNREADABLE")]:
        with pytest.raises(InputError) as caught:
            c.load_pfx_file(path, None)
        assert caught.value.code == code


def test_load_pem_pair_opens_an_encrypted_key_with_its_password_and_refuses_a_wrong_one(
    tmp_path: Path,
) -> None:
    key = cc.rsa_key()
    (tmp_path / "cert.pem").write_bytes(cc.pem(cc.leaf(), cc.ca()[0]))
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"keypass"),
    )
    (tmp_path / "key.pem").write_bytes(encrypted)
    loaded = c.load_pem_pair(tmp_path / "cert.pem", tmp_path / "key.pem", Secret("keypass"))
    assert loaded.source == "pem" and len(loaded.chain) == 1
    for password in (Secret("wrong"), None):
        with pytest.raises(InputError) as caught:
            c.load_pem_pair(tmp_path / "cert.pem", tmp_path / "key.pem", password)
        assert caught.value.code == "PEM_UNREADABLE" and "encrypted" in caught.value.message


def test_load_pem_pair_ignores_a_password_meant_for_a_pfx_when_the_key_is_not_encrypted(
    tmp_path: Path,
) -> None:
    (tmp_path / "cert.pem").write_bytes(cc.pem(cc.leaf()))
    (tmp_path / "key.pem").write_bytes(cc.key_pem(cc.rsa_key()))
    assert (
        c.load_pem_pair(tmp_path / "cert.pem", tmp_path / "key.pem", Secret("unused")).private_key is not None
    )


def test_check_file_never_raises_and_turns_a_missing_file_into_its_finding(tmp_path: Path) -> None:
    loaded, findings = c.check_file(tmp_path / "missing.pfx", hostname=cc.HOST)
    assert loaded is None and [f.code for f in findings] == ["FILE_NOT_FOUND"]


def test_check_file_still_shows_the_certificate_when_the_key_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    loaded, findings = check(cc.case("pem_without_key"), tmp_path, monkeypatch)
    assert loaded is not None and loaded.private_key is None and findings[0].code == "PFX_NO_PRIVATE_KEY"


# --- generating and exporting ---------------------------------------------------------------------------


def test_generate_self_signed_makes_a_certificate_browsers_accept_once_trusted() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    loaded = c.generate_self_signed(
        "Octopus.Example.com", ["octopus", "10.0.0.5", "*.corp.example.com"], now=now
    )
    cert = loaded.certificate
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["octopus.example.com", "octopus", "*.corp.example.com"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "octopus.example.com"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.key_encipherment
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert cert.not_valid_before_utc == now - timedelta(minutes=5)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=397)
    assert loaded.source == "self-signed"
    assert {f.code for f in c.judge(loaded, "octopus.example.com", now)} == {"SELF_SIGNED"}


@pytest.mark.parametrize("key_type,description", [("rsa3072", "RSA 3072"), ("ecdsa-p256", "ECDSA P-256"), ("ecdsa-p384", "ECDSA P-384")])  # fmt: skip
def test_generate_self_signed_honours_the_key_type(key_type: c.KeyType, description: str) -> None:
    loaded = c.generate_self_signed(cc.HOST, key_type=key_type)
    assert loaded.info.key_description == description
    ku = loaded.certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_encipherment == key_type.startswith("rsa")  # RFC 5480: no keyEncipherment on ECDSA keys


def test_generate_self_signed_leaves_out_the_cn_when_the_name_is_longer_than_a_cn_may_be() -> None:
    long_name = ".".join(["a" * 30] * 3) + ".example.com"
    loaded = c.generate_self_signed(long_name, key_type="ecdsa-p256")
    assert loaded.info.subject == "" and loaded.info.dns_names == (long_name,)


@pytest.mark.parametrize(
    "kwargs,code",
    [
        ({"hostname": "bad host"}, "HOSTNAME_INVALID"),
        ({"hostname": "*.example.com"}, "HOSTNAME_INVALID"),
        ({"hostname": "-a.example.com"}, "HOSTNAME_INVALID"),
        ({"hostname": "ok.example.com", "extra_dns_names": ["*.com"]}, "HOSTNAME_INVALID"),
        ({"hostname": "ok.example.com", "validity_days": 0}, "VALIDITY_INVALID"),
        ({"hostname": "ok.example.com", "validity_days": 826}, "VALIDITY_INVALID"),
        ({"hostname": "ok.example.com", "key_type": "rsa1024"}, "KEY_TYPE_INVALID"),
    ],
)
def test_generate_self_signed_rejects_bad_parameters_at_the_boundary(
    kwargs: dict[str, object], code: str
) -> None:
    with pytest.raises(InputError) as caught:
        c.generate_self_signed(**kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code


@pytest.mark.parametrize(
    "setting,build,expected",
    [("auto", 17763, "aes"), ("auto", 20348, "aes"), ("auto", 14393, "compatible"), ("auto", None, "compatible"),
     ("compatible", 26100, "compatible"), ("aes", 14393, "aes")],
)  # fmt: skip
def test_choose_pfx_encryption_picks_aes_only_from_windows_server_2019(setting: c.PfxEncryption, build: int | None, expected: str) -> None:  # fmt: skip
    assert c.choose_pfx_encryption(setting, build) == expected


def test_choose_pfx_encryption_rejects_unknown_settings() -> None:
    with pytest.raises(InputError):
        c.choose_pfx_encryption("rc2", 17763)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "encryption,markers",
    [
        ("compatible", ["pbeWithSHA1And3-KeyTripleDES-CBC", "MAC: sha1"]),
        ("aes", ["AES-256-CBC", "MAC: sha256"]),
    ],
)
def test_export_pfx_writes_the_encryption_windows_needs(
    encryption: str, markers: list[str], tmp_path: Path
) -> None:
    loaded = c.LoadedCertificate(cc.leaf(), cc.rsa_key(), (cc.ca()[0],), "pem")
    data = c.export_pfx(loaded, Secret(cc.PASSWORD), encryption)  # type: ignore[arg-type]
    back = c.load_pfx(data, Secret(cc.PASSWORD))
    assert back.info.thumbprint == loaded.info.thumbprint and len(back.chain) == 1
    info = openssl_info(data, tmp_path)
    for marker in markers:
        assert marker in info
    if encryption == "compatible":
        assert "AES" not in info and "RC2" not in info


def test_export_pfx_requires_a_private_key_and_a_password() -> None:
    without_key = c.LoadedCertificate(cc.leaf(), None, (), "store")
    with pytest.raises(InputError) as caught:
        c.export_pfx(without_key, Secret(cc.PASSWORD), "aes")
    assert caught.value.code == "PFX_NO_PRIVATE_KEY"
    with pytest.raises(InputError) as caught:
        c.export_pfx(c.generate_self_signed(cc.HOST, key_type="ecdsa-p256"), Secret(""), "aes")
    assert caught.value.code == "PFX_PASSWORD_MISSING"


# --- judging --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern,hostname,matches",
    [
        ("octopus.example.com", "OCTOPUS.example.com.", True),
        ("*.example.com", "octopus.example.com", True),
        ("*.EXAMPLE.com", "octopus.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.octopus.example.com", False),
        ("oct*.example.com", "octopus.example.com", False),
        ("*.com", "example.com", False),
        ("*", "localhost", False),
        ("a.*.example.com", "a.b.example.com", False),
        ("*.0.0.1", "127.0.0.1", False),
        ("", "", False),
    ],
)
def test_hostname_matches_like_browsers(pattern: str, hostname: str, matches: bool) -> None:
    assert c.hostname_matches(pattern, hostname) is matches


def test_hostname_mismatch_says_what_the_certificate_covers() -> None:
    loaded = c.LoadedCertificate(
        cc.leaf(names=["www.example.com", "*.corp.example.com"]), None, (cc.ca()[0],), "pem"
    )
    [finding] = c.judge(loaded, "octopus.example.com", cc.NOW)
    assert (
        finding.message
        == "The certificate covers www.example.com, *.corp.example.com but not octopus.example.com."
    )


def test_no_san_says_browsers_ignore_the_cn_it_has() -> None:
    loaded = c.LoadedCertificate(cc.leaf(no_san=True), None, (cc.ca()[0],), "pem")
    [finding] = c.judge(loaded, None, cc.NOW)
    assert finding.code == "NO_SAN" and "octopus.example.com only in its subject CN" in finding.message


def test_judge_without_a_hostname_skips_only_the_hostname_check() -> None:
    loaded = c.LoadedCertificate(cc.leaf(names=["www.example.com"]), None, (cc.ca()[0],), "pem")
    assert c.judge(loaded, None, cc.NOW) == []


def test_judge_flags_a_key_that_does_not_belong_to_the_certificate() -> None:
    loaded = c.LoadedCertificate(cc.leaf(), cc.ec_key(), (cc.ca()[0],), "pem")
    assert [f.code for f in c.judge(loaded, cc.HOST, cc.NOW)] == ["KEY_MISMATCH"]


def test_judge_flags_sha1_signature_as_weak() -> None:
    loaded = c.LoadedCertificate(cc.resign_weak(cc.leaf(), "sha1"), cc.rsa_key(), (cc.ca()[0],), "pem")
    [finding] = c.judge(loaded, cc.HOST, cc.NOW)
    assert finding.code == "WEAK_SIGNATURE" and "sha1WithRSAEncryption" in finding.message


def test_expires_soon_is_a_warning_that_does_not_block() -> None:
    loaded = c.LoadedCertificate(cc.leaf(starts=timedelta(days=-80)), cc.rsa_key(), (cc.ca()[0],), "pem")
    [finding] = c.judge(loaded, cc.HOST, cc.NOW)
    assert (finding.code, finding.severity) == ("CERT_EXPIRES_SOON", "warning")


def test_card_text_shows_the_certificate_and_marks_findings_at_a_glance() -> None:
    loaded = c.LoadedCertificate(cc.leaf(rsa.generate_private_key(65537, 1024), days=500), None, (), "pem")
    findings = c.judge(loaded, "other.example.com", cc.NOW)
    card = c.card_text(loaded.info, findings, cc.NOW)
    for text in ("Thumbprint  " + loaded.info.thumbprint, "RSA 1024", "✖ WEAK_KEY", "⚠ CHAIN_INCOMPLETE",
                 "499 days left", "Verdict: blocked by errors", "→ "):  # fmt: skip
        assert text in card
    good = c.card_text(c.inspect(cc.leaf(ec.generate_private_key(ec.SECP256R1()))), [], cc.NOW)
    assert "✔ no problems found" in good and "Verdict: ready to import" in good
