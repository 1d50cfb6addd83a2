"""The check's DER reader gives cryptography's answer, or steps aside: never a reading of its own.

``octorunbook check`` reads a served leaf in the common profile (plain or public-CA-shaped) without
importing cryptography (octorunbook/evidence/leaf_der.py); anything else goes to cryptography after the handshake. These tests
hold the reader to exactly cryptography's subject, names and dates for real certificates (trustme's, the
generator's, the corpus's), to stepping aside for what is outside the profile, and — over thousands of
corrupted certificates — to never accepting one that cryptography would refuse or read differently.
"""

from __future__ import annotations

import datetime as dt
import functools
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


@functools.cache
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
        "an empty authorityInfoAccess": built(
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
    """Thousands of one- and two-byte corruptions of plain and public-CA-shaped certificates (half of the
    latter's within the extensions a public CA adds): whatever the reader accepts, cryptography accepts too,
    with the same subject, names and dates."""
    rng = random.Random(28)
    accepted = {"plain": 0, "public CA": 0}
    for kind, certificates in (("plain", plain_certificates()), ("public CA", public_ca_certificates())):
        for data in certificates.values():
            aia = data.find(
                bytes.fromhex("2b06010505070101")
            )  # from AIA on: AIA, SAN, policies, CRL DP, SCTs
            for i in range(400):
                corrupt = bytearray(data)
                for _ in range(rng.choice((1, 2))):
                    where = rng.randrange(aia if aia > 0 and i % 2 else 0, len(corrupt))
                    corrupt[where] = rng.choice(
                        (rng.randrange(256), corrupt[where] ^ 0x80, corrupt[where] + 1 & 0xFF)
                    )
                fast = read_leaf(bytes(corrupt))
                if fast is None:
                    continue
                accepted[kind] += 1
                assert fast == read_with_cryptography(bytes(corrupt)), corrupt.hex()
    # the corruptions that stay in the profile (a signature, key, serial or SCT byte) are read
    assert accepted["plain"] > 100 and accepted["public CA"] > 100, accepted


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


# What a public CA (Let's Encrypt and the like) puts in a leaf besides the plain profile.
OCSP, CA_ISSUERS = (
    x509.oid.AuthorityInformationAccessOID.OCSP,
    x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
)
DOMAIN_VALIDATED = x509.ObjectIdentifier("2.23.140.1.2.1")
SCT_LIST = x509.oid.ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS
UNKNOWN = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1.2")


def der_octets(content: bytes) -> bytes:
    size = len(content)
    count = (size.bit_length() + 7) // 8
    head = bytes([size]) if size < 0x80 else bytes([0x80 | count]) + size.to_bytes(count, "big")
    return b"\x04" + head + content


def sct_list(rng: random.Random, count: int = 2, *, trailing: bytes = b"", version: int = 0) -> bytes:
    """An embedded SCT list as a CT log returns it: v1, a log id, now, extensions (a static-CT leaf index on
    the second), SHA-256/ECDSA and a signature — the DER OCTET STRING that is the extension's value."""
    scts = b""
    for i in range(count):
        extensions = b"" if i == 0 else b"\x00\x00\x05" + rng.randbytes(5)
        signature = rng.randbytes(70)
        sct = (
            bytes([version])
            + rng.randbytes(32)
            + int(NOW.timestamp() * 1000).to_bytes(8, "big")
            + len(extensions).to_bytes(2, "big")
            + extensions
            + b"\x04\x03"
            + len(signature).to_bytes(2, "big")
            + signature
        )
        scts += len(sct).to_bytes(2, "big") + sct
    return der_octets(len(scts).to_bytes(2, "big") + scts + trailing)


def public_ca_extensions(
    names: list[str], *, sct: bytes | None = None, must_staple: bool = False, cps: bool = False
) -> list[tuple[x509.ExtensionType, bool]]:
    """A Let's Encrypt-shaped leaf's extensions, in their order: key usage, EKU, basic constraints, SKI/AKI
    placeholders left to the caller's key, AIA, SAN, policies, CRL DP, SCTs (and must-staple when asked)."""
    rng = random.Random(",".join(names))
    policies = [x509.PolicyInformation(DOMAIN_VALIDATED, None)]
    if cps:
        policies.append(x509.PolicyInformation(x509.ObjectIdentifier("1.3.6.1.4.1.44947.1.1.1"),
                                               ["http://cps.example.org"]))  # fmt: skip
    found: list[tuple[x509.ExtensionType, bool]] = [
        (x509.KeyUsage(True, False, False, False, False, False, False, False, False), True),
        (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.SubjectKeyIdentifier(rng.randbytes(20)), False),
        (x509.AuthorityKeyIdentifier(rng.randbytes(20), None, None), False),
        (x509.AuthorityInformationAccess([
            x509.AccessDescription(OCSP, x509.UniformResourceIdentifier("http://r11.o.lencr.org")),
            x509.AccessDescription(CA_ISSUERS, x509.UniformResourceIdentifier("http://r11.i.lencr.org/")),
        ]), False),
        (x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False),
        (x509.CertificatePolicies(policies), False),
        (x509.CRLDistributionPoints([
            x509.DistributionPoint([x509.UniformResourceIdentifier("http://r11.c.lencr.org/42.crl")],
                                   None, None, None)
        ]), False),
        (x509.UnrecognizedExtension(SCT_LIST, sct if sct is not None else sct_list(rng)), False),
    ]  # fmt: skip
    if must_staple:
        found.append((x509.TLSFeature([x509.TLSFeatureType.status_request]), False))
    return found


def public_ca_leaf(
    names: list[str],
    *,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
    extra: list[tuple[x509.ExtensionType, bool]] | None = None,
    not_before: dt.datetime = NOW - dt.timedelta(days=1),
    not_after: dt.datetime = NOW + dt.timedelta(days=89),
    **shape: bool,
) -> bytes:
    """A leaf shaped as a public CA issues it (issuer "C=US, O=Let's Encrypt, CN=R11", an empty subject)."""
    issuer = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Let's Encrypt"),
                        x509.NameAttribute(NameOID.COMMON_NAME, "R11")])  # fmt: skip
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for extension, critical in [*public_ca_extensions(names, **shape), *(extra or [])]:
        builder = builder.add_extension(extension, critical=critical)
    return der(builder.sign(key, hashes.SHA256()))


@functools.cache
def public_ca_certificates() -> dict[str, bytes]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    unknown = x509.UnrecognizedExtension(UNKNOWN, b"\x30\x06\x02\x01\x01\x04\x01\x00")
    return {
        "Let's Encrypt-shaped, ECDSA": public_ca_leaf(["portal.example.com", "www.portal.example.com"]),
        "Let's Encrypt-shaped, RSA": public_ca_leaf(["portal.example.com"], key=rsa_key),
        "with OCSP must-staple": public_ca_leaf(["portal.example.com"], must_staple=True),
        "with a CPS qualifier": public_ca_leaf(["*.example.com"], cps=True),
        "with a non-critical extension cryptography does not parse": public_ca_leaf(
            ["portal.example.com"], extra=[(unknown, False)]
        ),
    }


def served() -> dict[str, bytes]:
    return {**plain_certificates(), **public_ca_certificates()}


@pytest.mark.parametrize("name", list(served()))
def test_the_reader_answers_as_cryptography_for_certificates_portals_serve(name: str) -> None:
    """The plain profile, and what a public CA issues (below: AIA, CRL DP, policies, SCTs, must-staple)."""
    data = served()[name]
    fast = read_leaf(data)
    assert fast is not None, f"{name}: outside the profile"
    assert fast == read_with_cryptography(data)


def outside_the_public_ca_profile() -> dict[str, bytes]:
    rng = random.Random(5)
    key = ec.generate_private_key(ec.SECP256R1())
    names = ["portal.example.com"]
    user_notice = x509.PolicyInformation(DOMAIN_VALIDATED, [x509.UserNotice(None, "hello")])
    return {
        "a critical extension it does not know": public_ca_leaf(
            names, key=key, extra=[(x509.UnrecognizedExtension(UNKNOWN, b"\x05\x00"), True)]
        ),
        "a non-critical unknown extension that is not DER": public_ca_leaf(
            names, key=key, extra=[(x509.UnrecognizedExtension(UNKNOWN, b"\x30\x05\x02\x01"), False)]
        ),
        "an unknown extension of two DER elements": public_ca_leaf(
            names, key=key, extra=[(x509.UnrecognizedExtension(UNKNOWN, b"\x05\x00\x05\x00"), False)]
        ),
        "critical must-staple": built(
            cn("a"), key=key, extensions=[(x509.TLSFeature([x509.TLSFeatureType.status_request]), True)]
        ),
        "a user notice qualifier": built(cn("a"), key=key, extensions=[(x509.CertificatePolicies([user_notice]), False)]),
        "AIA to a directory name": built(cn("a"), key=key, extensions=[
            (x509.AuthorityInformationAccess([x509.AccessDescription(OCSP, x509.DirectoryName(cn("o")))]), False)
        ]),
        "a CRL distribution point with a CRL issuer": built(cn("a"), key=key, extensions=[
            (x509.CRLDistributionPoints([x509.DistributionPoint(None, None, None, [x509.DNSName("c.example")])]),
             False)
        ]),
        "an extension cryptography parses, outside the reader's list": built(
            cn("a"), key=key, extensions=[(x509.InhibitAnyPolicy(0), False)]
        ),
        "an SCT list with a byte after it": public_ca_leaf(names, key=key, sct=sct_list(rng, trailing=b"\x00")),
        "an SCT of version 2": public_ca_leaf(names, key=key, sct=sct_list(rng, version=1)),
        "an SCT list that is empty": public_ca_leaf(names, key=key, sct=der_octets(b"\x00\x00")),
    }  # fmt: skip


def test_an_extension_twice_is_left_to_cryptography() -> None:
    """AIA twice (a second one written under another OID, then renamed in the DER): the reader steps aside,
    and cryptography refuses it."""
    aia = dict(public_ca_extensions(["a.example"]))
    value = next(e for e in aia if isinstance(e, x509.AuthorityInformationAccess)).public_bytes()
    copy = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.2"), value)
    data = public_ca_leaf(["a.example"], extra=[(copy, False)])
    twice = data.replace(bytes.fromhex("06082b06010505070102"), bytes.fromhex("06082b06010505070101"))
    assert twice != data and read_leaf(data) is not None
    assert read_leaf(twice) is None
    with pytest.raises(x509.DuplicateExtension):
        read_with_cryptography(twice)


@pytest.mark.parametrize("name", list(outside_the_public_ca_profile()))
def test_the_reader_steps_aside_outside_the_public_ca_profile(name: str) -> None:
    data = outside_the_public_ca_profile()[name]
    assert read_leaf(data) is None
    try:
        read_with_cryptography(data)  # cryptography decides: it reads it, or the check answers UNKNOWN
    except ValueError:
        assert "SCT" in name


def test_every_extension_cryptography_parses_is_one_the_reader_knows_as_parsed() -> None:
    """Only an extension cryptography keeps as raw bytes may be skipped on its DER alone: the reader's list
    of parsed OIDs covers every one this cryptography names (an upgrade adding one fails here first)."""
    from octorunbook.evidence.leaf_der import _PARSED_BY_CRYPTOGRAPHY

    named = {
        oid.dotted_string
        for holder in (x509.oid.ExtensionOID, x509.oid.CRLEntryExtensionOID, x509.oid.OCSPExtensionOID)
        for oid in vars(holder).values()
        if isinstance(oid, x509.ObjectIdentifier)
    }
    assert named <= _PARSED_BY_CRYPTOGRAPHY
    assert UNKNOWN.dotted_string not in _PARSED_BY_CRYPTOGRAPHY


# Extensions seen in the wild that cryptography names nowhere: qcStatements, logotype, Netscape cert type and
# comment, Microsoft's template name / application policies / CA version, biometric info, the CA/B Forum's
# Tor service descriptor, RFC 3779's IP and AS resources, SMIMECapabilities, ...
WILD = (
    "1.3.6.1.5.5.7.1.3 1.3.6.1.5.5.7.1.12 2.16.840.1.113730.1.1 2.16.840.1.113730.1.13 1.3.6.1.4.1.311.20.2 \
1.3.6.1.4.1.311.21.10 1.3.6.1.4.1.311.21.1 1.3.6.1.4.1.311.21.2 1.3.6.1.5.5.7.1.2 2.23.140.1.31 \
1.3.6.1.5.5.7.1.7 1.3.6.1.5.5.7.1.8 1.2.840.113549.1.9.15 1.3.6.1.4.1.11129.2.4.4 1.3.6.1.5.5.7.1.26".split()
)


@pytest.mark.parametrize("oid", WILD)
def test_an_extension_outside_the_parsed_list_is_kept_raw_by_cryptography(oid: str) -> None:
    """The other side of the list: an OID outside it is one cryptography does not parse (a NULL value, which
    no parsed extension allows, comes back raw) — so skipping it on its DER alone reads as cryptography does."""
    from octorunbook.evidence.leaf_der import _PARSED_BY_CRYPTOGRAPHY

    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), b"\x05\x00")
    data = public_ca_leaf(["a.example"], extra=[(unknown, False)])
    assert oid not in _PARSED_BY_CRYPTOGRAPHY
    assert isinstance(x509.load_der_x509_certificate(data).extensions.get_extension_for_oid(unknown.oid).value,
                      x509.UnrecognizedExtension)  # fmt: skip
    assert read_leaf(data) == read_with_cryptography(data)
    assert read_leaf(data) is not None
