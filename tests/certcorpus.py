"""A corpus of good and bad certificate files, each with the exact finding codes it must produce.

Every case is built on demand (and cached) with cryptography and trustme, relative to :data:`NOW`.
Two kinds of input cannot be written by cryptography and are made another way:

* SHA-1 / MD5 signed certificates: cryptography refuses to *sign* with those hashes, so a SHA-256
  certificate is re-signed: its signature-algorithm OID (same length) is swapped and the TBS bytes
  signed again with the CA key. Same length means no DER length changes anywhere.
* the legacy RC2-40 PFX: written by ``openssl pkcs12 -export -legacy`` (password through the
  environment, never argv); without a working openssl the case is skipped with the reason.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from octorunbook.certificates import LoadedCertificate, export_pfx, generate_self_signed
from octorunbook.redaction import Secret

NOW = datetime.now(UTC).replace(microsecond=0)
HOST = "octopus.example.com"
PASSWORD = "corpus-Pa55word"
PASSWORD_ENV = "CORPUS_PFX_PASSWORD"
SHA256_WITH_RSA = bytes.fromhex("06092a864886f70d01010b")
WEAK_RSA_SIGNATURES = {"sha1": (bytes.fromhex("06092a864886f70d010105"), hashes.SHA1()),
                       "md5": (bytes.fromhex("06092a864886f70d010104"), hashes.MD5())}  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One input file (``data``), how to check it, and the exact finding codes expected."""

    name: str
    expected: frozenset[str]
    data: bytes
    password: str | None = PASSWORD  # the password environment variable's value; None: unset
    hostname: str | None = HOST
    key_pem: bytes | None = None  # a separate PEM key file
    public: bool = (
        False  # the corpus root is named public (OCTORUNBOOK_PUBLIC_ROOTS): a public CA's certificate
    )

    def write(self, folder: Path) -> tuple[Path, Path | None]:
        path = folder / f"{self.name}.{'pem' if self.data.startswith(b'-----') else 'pfx'}"
        path.write_bytes(self.data)
        if self.key_pem is None:
            return path, None
        key_path = folder / f"{self.name}.key"
        key_path.write_bytes(self.key_pem)
        return path, key_path


# --- building blocks ----------------------------------------------------------------------------------


@functools.cache
def rsa_key(bits: int = 2048, which: str = "leaf") -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@functools.cache
def ec_key(curve_name: str = "secp256r1") -> ec.EllipticCurvePrivateKey:
    curve = ec.SECP256R1() if curve_name == "secp256r1" else ec.SECP256K1()
    return ec.generate_private_key(curve)


@functools.cache
def dsa_key() -> dsa.DSAPrivateKey:
    return dsa.generate_private_key(key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(
    digital_signature: bool = True, key_encipherment: bool = True, cert_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature, False, key_encipherment, False, False, cert_sign, cert_sign, False, False
    )


@functools.cache
def ca() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """The corpus root CA (RSA 2048, so its signatures are 256 bytes: see the SHA-1 re-signing)."""
    key = rsa_key(2048, "ca")
    name = _name("Corpus Root CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(NOW + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(False, False, cert_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def expired_intermediate() -> x509.Certificate:
    """An intermediate the corpus root issued that expired a year ago (a stale one left in a chain file)."""
    ca_cert, ca_key = ca()
    return (
        x509.CertificateBuilder()
        .subject_name(_name("Corpus Retired Intermediate"))
        .issuer_name(ca_cert.subject)
        .public_key(rsa_key(2048, "intermediate").public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=730))
        .not_valid_after(NOW - timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )


def leaf(
    key: CertificateIssuerPrivateKeyTypes | None = None,
    *,
    names: list[str] | None = None,
    eku: list[x509.ObjectIdentifier] | None = None,
    key_usage: x509.KeyUsage | None = None,
    is_ca: bool = False,
    starts: timedelta = timedelta(days=-1),
    days: int = 90,
    no_san: bool = False,
    no_eku: bool = False,
) -> x509.Certificate:
    """A server certificate issued by :func:`ca`; by default a good one for :data:`HOST`."""
    key = key or rsa_key()
    ca_cert, ca_key = ca()
    general: list[x509.GeneralName] = []
    for n in names or [HOST]:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            general.append(x509.DNSName(n))
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name((names or [HOST])[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + starts)
        .not_valid_after(NOW + starts + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(key_usage or _key_usage(), critical=True)
    )
    if not no_san:
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    if not no_eku:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(eku or [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256())


def resign_weak(cert: x509.Certificate, hash_name: str) -> x509.Certificate:
    """``cert`` (signed by the corpus CA with SHA-256/RSA) signed again with SHA-1 or MD5."""
    oid, algorithm = WEAK_RSA_SIGNATURES[hash_name]
    der = cert.public_bytes(serialization.Encoding.DER)
    tbs = cert.tbs_certificate_bytes
    weak_tbs = tbs.replace(SHA256_WITH_RSA, oid)
    signature = ca()[1].sign(weak_tbs, padding.PKCS1v15(), algorithm)
    body = der.replace(tbs, weak_tbs).replace(SHA256_WITH_RSA, oid)
    return x509.load_der_x509_certificate(body[: -len(signature)] + signature)


def pfx(
    key: pkcs12.PKCS12PrivateKeyTypes | None,
    cert: x509.Certificate | None,
    chain: list[x509.Certificate] | None = None,
    password: str = PASSWORD,
) -> bytes:
    encryption = serialization.BestAvailableEncryption(password.encode())
    return pkcs12.serialize_key_and_certificates(b"corpus", key, cert, chain or None, encryption)


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def good_pfx(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None, **kwargs: object) -> bytes:
    """A PFX with key, ``leaf(**kwargs)`` and the CA: any finding comes from ``kwargs`` alone."""
    key = key or rsa_key()
    return pfx(key, leaf(key, **kwargs), [ca()[0]])  # type: ignore[arg-type]


def openssl_legacy_pfx() -> bytes:
    """The good RSA certificate as ``openssl pkcs12 -export -legacy`` writes it (RC2-40 + 3DES)."""
    openssl = shutil.which("openssl")
    if openssl is None or subprocess.run([openssl, "version"], capture_output=True).returncode != 0:
        pytest.skip("no working openssl here: cryptography cannot write an RC2-encrypted PFX itself")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "cert.pem").write_bytes(pem(leaf()))
        (folder / "ca.pem").write_bytes(pem(ca()[0]))
        (folder / "key.pem").write_bytes(key_pem(rsa_key()))
        argv = [openssl, "pkcs12", "-export", "-legacy", "-in", "cert.pem", "-inkey", "key.pem",
                "-certfile", "ca.pem", "-out", "legacy.pfx", "-passout", "env:LEGACY_PFX_PASSWORD"]  # fmt: skip
        env = {**os.environ, "LEGACY_PFX_PASSWORD": PASSWORD}
        done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"openssl pkcs12 -export -legacy failed here: {done.stderr.strip()}")
        return (folder / "legacy.pfx").read_bytes()


def trustme_chain_pfx() -> bytes:
    """A full chain: trustme root -> intermediate -> leaf, all three in the PFX."""
    root = trustme.CA()
    intermediate = root.create_child_ca()
    issued = intermediate.issue_cert(
        HOST, not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=200)
    )
    certs = [x509.load_pem_x509_certificate(blob.bytes()) for blob in issued.cert_chain_pems]
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), None)
    root_cert = x509.load_pem_x509_certificate(root.cert_pem.bytes())
    return pfx(key, certs[0], [*certs[1:], root_cert])  # type: ignore[arg-type]


# --- the corpus ---------------------------------------------------------------------------------------

_S = frozenset
EKU_CLIENT = [ExtendedKeyUsageOID.CLIENT_AUTH]
EKU_ANY = [ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]
_BUILDERS: dict[str, Callable[[], Case]] = {
    # good ones: no finding at all
    "good_rsa": lambda: Case("good_rsa", _S(), good_pfx()),
    "good_ecdsa": lambda: Case("good_ecdsa", _S(), good_pfx(ec_key())),
    "good_pem_pair": lambda: Case("good_pem_pair", _S(), pem(leaf(), ca()[0]), key_pem=key_pem(rsa_key())),
    "good_ip_address_san": lambda: Case("good_ip_address_san", _S(), good_pfx(names=["10.1.2.3"]), hostname="10.1.2.3"),
    "full_chain_trustme": lambda: Case("full_chain_trustme", _S(), trustme_chain_pfx()),
    "wildcard": lambda: Case("wildcard", _S(), good_pfx(names=["*.example.com"])),
    "legacy_rc2_pfx": lambda: Case("legacy_rc2_pfx", _S(), openssl_legacy_pfx()),
    "aes_pfx": lambda: Case("aes_pfx", _S(), _exported("aes")),
    "triple_des_pfx": lambda: Case("triple_des_pfx", _S(), _exported("compatible")),
    # loading problems
    "wrong_password": lambda: Case("wrong_password", _S({"PFX_WRONG_PASSWORD"}), good_pfx(), password="nope"),
    "password_missing": lambda: Case("password_missing", _S({"PFX_PASSWORD_MISSING"}), good_pfx(), password=None),
    "random_bytes": lambda: Case("random_bytes", _S({"PFX_UNREADABLE"}), os.urandom(2000)),
    "truncated_pfx": lambda: Case("truncated_pfx", _S({"PFX_UNREADABLE"}), good_pfx()[:700]),
    "der_certificate": lambda: Case("der_certificate", _S({"PFX_UNREADABLE"}), leaf().public_bytes(serialization.Encoding.DER)),
    "pem_garbage": lambda: Case("pem_garbage", _S({"PEM_UNREADABLE"}), b"-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n"),
    "pfx_without_key": lambda: Case("pfx_without_key", _S({"PFX_NO_PRIVATE_KEY"}), pfx(None, None, [leaf(), ca()[0]])),
    "pem_without_key": lambda: Case("pem_without_key", _S({"PFX_NO_PRIVATE_KEY"}), pem(leaf(), ca()[0])),
    "pfx_key_mismatch": lambda: Case("pfx_key_mismatch", _S({"KEY_MISMATCH"}), pfx(ec_key(), None, [leaf()])),
    "pem_key_mismatch": lambda: Case("pem_key_mismatch", _S({"KEY_MISMATCH"}), pem(leaf()), key_pem=key_pem(ec_key())),
    # certificate problems
    "expired": lambda: Case("expired", _S({"CERT_EXPIRED"}), good_pfx(starts=timedelta(days=-91))),
    "not_yet_valid": lambda: Case("not_yet_valid", _S({"CERT_NOT_YET_VALID"}), good_pfx(starts=timedelta(days=2))),
    "expires_soon": lambda: Case("expires_soon", _S({"CERT_EXPIRES_SOON"}), good_pfx(starts=timedelta(days=-80))),
    "no_san": lambda: Case("no_san", _S({"NO_SAN"}), good_pfx(no_san=True)),
    "hostname_mismatch": lambda: Case("hostname_mismatch", _S({"HOSTNAME_MISMATCH"}), good_pfx(names=["www.example.com", "*.corp.example.com"])),
    "wildcard_two_labels_deep": lambda: Case("wildcard_two_labels_deep", _S({"HOSTNAME_MISMATCH"}), good_pfx(names=["*.example.com"]), hostname="a.octopus.example.com"),
    "eku_client_auth_only": lambda: Case("eku_client_auth_only", _S({"NO_SERVER_AUTH_EKU"}), good_pfx(eku=EKU_CLIENT)),
    "eku_any_only": lambda: Case("eku_any_only", _S({"NO_SERVER_AUTH_EKU"}), good_pfx(eku=EKU_ANY)),
    "no_eku_at_all": lambda: Case("no_eku_at_all", _S(), good_pfx(no_eku=True)),
    "rsa_1024": lambda: Case("rsa_1024", _S({"WEAK_KEY"}), good_pfx(rsa_key(1024))),
    "curve_secp256k1": lambda: Case("curve_secp256k1", _S({"WEAK_KEY"}), good_pfx(ec_key("secp256k1"))),
    "dsa_key": lambda: Case("dsa_key", _S({"WEAK_KEY"}), good_pfx(dsa_key())),  # type: ignore[arg-type]
    "sha1_signature": lambda: Case("sha1_signature", _S({"WEAK_SIGNATURE"}), pfx(rsa_key(), resign_weak(leaf(), "sha1"), [ca()[0]])),
    "md5_signature": lambda: Case("md5_signature", _S({"WEAK_SIGNATURE"}), pfx(rsa_key(), resign_weak(leaf(), "md5"), [ca()[0]])),
    "ca_as_leaf": lambda: Case("ca_as_leaf", _S({"CA_CERTIFICATE"}), good_pfx(is_ca=True)),
    "self_signed": lambda: Case("self_signed", _S({"SELF_SIGNED"}), _self_signed_pfx()),
    "chain_incomplete": lambda: Case("chain_incomplete", _S({"CHAIN_INCOMPLETE"}), pfx(rsa_key(), leaf())),
    "validity_too_long": lambda: Case("validity_too_long", _S({"VALIDITY_TOO_LONG"}), good_pfx(days=500)),
    "public_over_baseline": lambda: Case("public_over_baseline", _S({"LIFETIME_OVER_BASELINE"}), good_pfx(days=300), public=True),
    "public_client_auth": lambda: Case("public_client_auth", _S({"CLIENT_AUTH_EKU"}), good_pfx(eku=[ExtendedKeyUsageOID.SERVER_AUTH, *EKU_CLIENT]), public=True),
    "private_client_auth": lambda: Case("private_client_auth", _S(), good_pfx(eku=[ExtendedKeyUsageOID.SERVER_AUTH, *EKU_CLIENT])),
    "expired_intermediate_in_chain": lambda: Case("expired_intermediate_in_chain", _S({"INTERMEDIATE_RETIRED"}), _with_extra(expired_intermediate())),
    "key_usage_without_digital_signature": lambda: Case("key_usage_without_digital_signature", _S({"KEY_USAGE_MISSING_DIGITAL_SIGNATURE"}), good_pfx(key_usage=_key_usage(digital_signature=False))),
    "many_problems_at_once": lambda: Case("many_problems_at_once", _S({"CERT_EXPIRED", "NO_SAN", "WEAK_KEY", "WEAK_SIGNATURE", "CHAIN_INCOMPLETE"}), pfx(rsa_key(1024), resign_weak(leaf(rsa_key(1024), no_san=True, starts=timedelta(days=-91)), "sha1"))),
}  # fmt: skip
CASE_NAMES = list(_BUILDERS)


def _exported(encryption: Literal["compatible", "aes"]) -> bytes:
    """The good RSA certificate, key and CA written by octorunbook's own export_pfx."""
    good = LoadedCertificate(leaf(), rsa_key(), (ca()[0],), "pem")
    return export_pfx(good, Secret(PASSWORD), encryption)


def _with_extra(extra: x509.Certificate) -> bytes:
    """The good PFX with one more CA certificate in its chain."""
    key = rsa_key()
    return pfx(key, leaf(key), [ca()[0], extra])


def _self_signed_pfx() -> bytes:
    return export_pfx(generate_self_signed(HOST, now=NOW), Secret(PASSWORD), "aes")


@functools.cache
def case(name: str) -> Case:
    return _BUILDERS[name]()
