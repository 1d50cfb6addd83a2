"""The check's DER reader gives cryptography's answer, or steps aside: never a reading of its own.

``octorunbook check`` reads a served leaf in the plain profile without importing cryptography
(octorunbook/evidence/leaf_der.py); anything else goes to cryptography after the handshake. These tests
hold the reader to exactly cryptography's subject, names and dates for real certificates (trustme's, the
generator's, the corpus's), to stepping aside for what is outside the profile, and — over thousands of
corrupted certificates — to never accepting one that cryptography would refuse or read differently.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import random

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from octorunbook.certificates import generate_self_signed
from octorunbook.evidence.check import read_with_cryptography
from octorunbook.evidence.leaf_der import read_leaf
from tests import certcorpus

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def built(
    subject: x509.Name,
    *,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | None = None,
    extensions: list[tuple[x509.ExtensionType, bool]] | None = None,
    not_before: dt.datetime = NOW - dt.timedelta(days=1),
    not_after: dt.datetime = NOW + dt.timedelta(days=90),
) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for extension, critical in extensions or [
        (x509.SubjectAlternativeName([x509.DNSName("a.example")]), False)
    ]:
        builder = builder.add_extension(extension, critical=critical)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return der(builder.sign(key, algorithm))


def cn(*values: str, oid: x509.ObjectIdentifier = NameOID.COMMON_NAME) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for value in values])


def plain_certificates() -> dict[str, bytes]:
    """Certificates a portal serves: each must be read by the fast path, with cryptography's answer."""
    self_signed = generate_self_signed("octopus.example.com", ["*.example.com", "10.0.0.7", "::1"])
    cases = {
        "trustme rsa": trustme.CA().issue_cert("localhost", "127.0.0.1", "*.example.org"),
        "trustme ecdsa": trustme.CA(key_type=trustme.KeyType.ECDSA).issue_cert("portal.example.com"),
    }
    found = {name: pem_leaf(cert.cert_chain_pems[0].bytes()) for name, cert in cases.items()}
    found["generated self-signed"] = der(self_signed.certificate)
    found["corpus good leaf"] = der(certcorpus.leaf())
    found["corpus ec leaf"] = der(certcorpus.leaf(certcorpus.ec_key()))
    found["P-384"] = built(cn("p384"), key=ec.generate_private_key(ec.SECP384R1()))
    found["corpus IP only"] = der(certcorpus.leaf(names=["192.0.2.1"]))
    found["corpus no SAN"] = der(certcorpus.leaf(no_san=True))
    found["ed25519"] = built(cn("ed"), key=ed25519.Ed25519PrivateKey.generate())
    found["escaping"] = built(cn('#a, b+c;"d"<e>\\f ', " lead", "x\0y", "é ünïcode"))
    found["country, DC, UID, email (dotted)"] = built(
        x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "example"),
                x509.NameAttribute(NameOID.USER_ID, "u1"),
                x509.NameAttribute(NameOID.EMAIL_ADDRESS, "a@example.com"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ""),
            ]
        )
    )
    found["expired, 2049 and 2050"] = built(
        cn("t"),
        not_before=dt.datetime(1999, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2049, 12, 31, tzinfo=dt.UTC),
    )
    found["generalized time"] = built(cn("t"), not_after=dt.datetime(2051, 2, 3, 4, 5, 6, tzinfo=dt.UTC))
    return found


def pem_leaf(pem: bytes) -> bytes:
    return der(x509.load_pem_x509_certificate(pem))


@pytest.mark.parametrize("name", list(plain_certificates()))
def test_the_reader_answers_as_cryptography_for_certificates_portals_serve(name: str) -> None:
    data = plain_certificates()[name]
    fast = read_leaf(data)
    assert fast is not None, f"{name}: outside the plain profile"
    assert fast == read_with_cryptography(data)


def outside_the_profile() -> dict[str, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    two_valued = x509.Name(
        [x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, "a"),
                                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "b")])]
    )  # fmt: skip
    return {
        "multi-valued RDN": built(two_valued, key=key),
        "T61String": built(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t", x509.name._ASN1Type.T61String)]), key=key
        ),
        "an extension outside the list": built(
            cn("a"),
            key=key,
            extensions=[
                (x509.SubjectAlternativeName([x509.DNSName("a.example")]), False),
                (x509.AuthorityInformationAccess([]), False),
            ],
        ),
        "a SAN URI": built(
            cn("a"),
            key=key,
            extensions=[(x509.SubjectAlternativeName([x509.UniformResourceIdentifier("u:x")]), False)],
        ),
        "a secp256k1 key (corpus)": der(certcorpus.leaf(certcorpus.ec_key("secp256k1"))),
        "sha1-signed (corpus)": der(certcorpus.resign_weak(certcorpus.leaf(), "sha1")),
    }


@pytest.mark.parametrize("name", list(outside_the_profile()))
def test_the_reader_steps_aside_outside_the_plain_profile(name: str) -> None:
    data = outside_the_profile()[name]
    if name.startswith("sha1"):  # sha1WithRSAEncryption is in the profile: read, and read alike
        assert read_leaf(data) == read_with_cryptography(data)
        return
    assert read_leaf(data) is None
    read_with_cryptography(data)  # ... and cryptography reads it


def test_a_corrupted_certificate_is_never_read_unless_cryptography_reads_it_the_same() -> None:
    """Thousands of one- and two-byte corruptions of plain certificates: whatever the reader accepts,
    cryptography accepts too, with the same subject, names and dates."""
    rng = random.Random(28)
    accepted = 0
    for data in plain_certificates().values():
        for _ in range(400):
            corrupt = bytearray(data)
            for _ in range(rng.choice((1, 2))):
                where = rng.randrange(len(corrupt))
                corrupt[where] = rng.choice(
                    (rng.randrange(256), corrupt[where] ^ 0x80, corrupt[where] + 1 & 0xFF)
                )
            fast = read_leaf(bytes(corrupt))
            if fast is None:
                continue
            accepted += 1
            assert fast == read_with_cryptography(bytes(corrupt)), corrupt.hex()
    assert accepted > 100  # the corruptions that stay in the profile (a signature or key byte) are read


def test_ip_entries_are_the_addresses_cryptography_prints() -> None:
    data = built(
        cn("ip"),
        extensions=[
            (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
                                          x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        ],
    )  # fmt: skip
    fast = read_leaf(data)
    assert fast is not None and fast.ip_addresses == ("2001:db8::1", "127.0.0.1")
    assert fast == read_with_cryptography(data)
