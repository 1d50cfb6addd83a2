"""A strict DER reader for what ``octorunbook check`` judges in a served leaf: its names and validity.

``octorunbook check`` runs every minute on every portal; importing cryptography's x509 costs it ~45 ms
(more than the rest of the check together). This reader answers for the **common profile** only — a v3
certificate signed with RSA/ECDSA/Ed25519, single-valued name attributes in PrintableString / UTF8String /
IA5String, a validity in canonical UTCTime (GeneralizedTime from 2050), every element in canonical DER,
and these extensions, each at most once:

* subjectAltName (DNS and IP entries), basicConstraints, keyUsage, extendedKeyUsage, subject and authority
  key identifiers, in their plain forms;
* what a public CA adds (Let's Encrypt and the like), non-critical and in the forms they use, each read
  as strictly as cryptography parses it: authorityInfoAccess (URIs), cRLDistributionPoints (full names
  of URIs), certificatePolicies (CPS qualifiers at most), the embedded SCT list (v1, SHA-256 with RSA or
  ECDSA), TLS feature (status_request / status_request_v2);
* any other extension cryptography does **not** parse (its ``UnrecognizedExtension``), when it is
  non-critical and its value is well-formed DER.

For anything else — a critical extension it does not know, one cryptography parses in another form, a
malformed element — it returns None and the caller reads the certificate with cryptography, exactly as
before: a certificate this reader accepts is one cryptography accepts too, with the same subject
(RFC 4514, cryptography's escaping), names and dates (``tests/evidence/test_leaf_der.py`` holds the two
readers to the same answers, and to the fallback for each thing outside the profile). Never a weaker
reading: when unsure, it steps aside.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime

# AlgorithmIdentifiers accepted whole (byte for byte): sha1/sha256/384/512 with RSA (NULL parameters),
# ECDSA with SHA-256/384/512 (no parameters), Ed25519; for the key: rsaEncryption, EC P-256/384/521, Ed25519.
_SIGNATURES = (
    {bytes.fromhex("300d06092a864886f70d0101" + n + "0500") for n in ("05", "0b", "0c", "0d")}
    | {bytes.fromhex("300a06082a8648ce3d0403" + n) for n in ("02", "03", "04")}
    | {bytes.fromhex("300506032b6570")}
)
_KEYS = {
    bytes.fromhex("300d06092a864886f70d0101010500"),
    bytes.fromhex("301306072a8648ce3d020106082a8648ce3d030107"),
    bytes.fromhex("301006072a8648ce3d020106052b81040022"),
    bytes.fromhex("301006072a8648ce3d020106052b81040023"),
    bytes.fromhex("300506032b6570"),
}
_SAN, _BASIC, _KEY_USAGE, _EKU, _SKI, _AKI, _CRL_DP, _POLICIES = (
    bytes.fromhex("551d" + n) for n in ("11", "13", "0f", "25", "0e", "23", "1f", "20")
)
_AIA, _TLS_FEATURE = bytes.fromhex("2b06010505070101"), bytes.fromhex("2b06010505070118")
_SCT_LIST = bytes.fromhex("2b06010401d679020402")
_CPS = bytes.fromhex("2b06010505070201")
# Every extension OID cryptography may parse into a type of its own (x509.ExtensionOID, CRLEntryExtensionOID,
# OCSPExtensionOID; a test holds this set to cryptography's): those are read here in full or not at all —
# only an OID cryptography keeps as raw bytes (UnrecognizedExtension) may be skipped on its DER alone.
_PARSED_BY_CRYPTOGRAPHY = frozenset(
    "1.3.36.8.3.3 1.3.6.1.4.1.11129.2.4.2 1.3.6.1.4.1.11129.2.4.3 1.3.6.1.4.1.11129.2.4.5 1.3.6.1.4.1.311.21.7 "
    "1.3.6.1.5.5.7.1.1 1.3.6.1.5.5.7.1.11 1.3.6.1.5.5.7.1.24 1.3.6.1.5.5.7.48.1.2 1.3.6.1.5.5.7.48.1.4 "
    "1.3.6.1.5.5.7.48.1.5 1.3.6.1.5.5.7.48.1.1 1.3.6.1.5.5.7.48.1.3 1.3.6.1.5.5.7.48.1.6 1.3.6.1.5.5.7.48.1.7 "
    "1.3.6.1.5.5.7.48.1.8 1.3.6.1.5.5.7.48.1.9".split()
    + [f"2.5.29.{n}" for n in range(1, 80)]  # the whole certificateExtension arc, known or yet to come
)
_SHORT = {"2.5.4.3": "CN", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.6": "C",
          "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID"}  # fmt: skip
_PRINTABLE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


class _Aside(Exception):
    """Outside the profile: cryptography reads this certificate."""


@dataclass(frozen=True)
class LeafFields:
    subject: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    not_before: datetime
    not_after: datetime


def read_leaf(der: bytes) -> LeafFields | None:
    """The leaf's subject, SAN entries and validity, or None when cryptography must read it."""
    try:
        return _leaf(der)
    except (_Aside, IndexError, ValueError, UnicodeDecodeError):
        return None


def _items(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    """The (tag, start, end) of each DER element from ``start`` to exactly ``end``."""
    found = []
    pos = start
    while pos < end:
        tag = data[pos]
        if tag & 0x1F == 0x1F:
            raise _Aside
        first = data[pos + 1]
        if first < 0x80:
            length, pos = first, pos + 2
        else:
            count = first & 0x7F
            raw = data[pos + 2 : pos + 2 + count]
            if not 1 <= count <= 4 or len(raw) != count or raw[0] == 0:
                raise _Aside
            length, pos = int.from_bytes(raw, "big"), pos + 2 + count
            if length < 0x80:
                raise _Aside
        if pos + length > end:
            raise _Aside
        found.append((tag, pos, pos + length))
        pos += length
    if pos != end:
        raise _Aside
    return found


def _only(data: bytes, start: int, end: int, tag: int) -> tuple[int, int]:
    items = _items(data, start, end)
    if len(items) != 1 or items[0][0] != tag:
        raise _Aside
    return items[0][1], items[0][2]


def _oid(raw: bytes) -> str:
    if len(raw) > 32:  # rust-asn1 refuses an OID over 63 bytes; none used here comes near 32
        raise _Aside
    arcs: list[int] = []
    value = 0
    size = 0
    for byte in raw:
        if size == 0 and byte == 0x80:
            raise _Aside
        value, size = (value << 7) | (byte & 0x7F), size + 1
        if size > 4:
            raise _Aside
        if byte < 0x80:
            arcs.append(value)
            value = size = 0
    if not arcs or size:
        raise _Aside
    first = min(arcs[0] // 40, 2)
    return ".".join(str(n) for n in (first, arcs[0] - 40 * first, *arcs[1:]))


def _escape(value: str) -> str:
    """cryptography's RFC 4514 value escaping, character for character."""
    if not value:
        return ""
    for char, escaped in (("\\", "\\\\"), ('"', '\\"'), ("+", "\\+"), (",", "\\,"), (";", "\\;"),
                          ("<", "\\<"), (">", "\\>"), ("\0", "\\00")):  # fmt: skip
        value = value.replace(char, escaped)
    if value[0] == "#" or (value[0] == " " and len(value) > 1):
        value = "\\" + value
    if value[-1] == " ":
        value = value[:-1] + "\\ "
    return value


def _name(data: bytes, start: int, end: int) -> str:
    parts = []
    for tag, s, e in _items(data, start, end):
        if tag != 0x31:
            raise _Aside
        s, e = _only(data, s, e, 0x30)  # one attribute per RDN: a multi-valued one goes to cryptography
        pair = _items(data, s, e)
        if len(pair) != 2 or pair[0][0] != 0x06:
            raise _Aside
        kind, value = pair
        oid, raw = _oid(data[kind[1] : kind[2]]), data[value[1] : value[2]]
        if value[0] == 0x13 and set(raw) <= _PRINTABLE or value[0] == 0x16 and raw.isascii():
            text = raw.decode("ascii")
        elif value[0] == 0x0C:
            text = raw.decode("utf-8")
        else:
            raise _Aside
        if oid == "2.5.4.6" and len(text) != 2:
            raise _Aside
        parts.append(f"{_SHORT.get(oid, oid)}={_escape(text)}")
    return ",".join(reversed(parts))


def _time(tag: int, raw: bytes) -> datetime:
    if not raw.endswith(b"Z") or not raw[:-1].isdigit():
        raise _Aside
    if tag == 0x17 and len(raw) == 13:
        year = int(raw[:2])
        year += 1900 if year >= 50 else 2000
        rest = raw[2:-1]
    elif tag == 0x18 and len(raw) == 15 and int(raw[:4]) >= 2050:
        year, rest = int(raw[:4]), raw[4:-1]
    else:
        raise _Aside
    month, day, hour, minute, second = (int(rest[i : i + 2]) for i in range(0, 10, 2))
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def _leaf(der: bytes) -> LeafFields:
    cert = _items(der, *_only(der, 0, len(der), 0x30))
    if [tag for tag, _, _ in cert] != [0x30, 0x30, 0x03] or der[cert[2][1]] != 0:
        raise _Aside
    algorithm = der[cert[1][1] - 2 : cert[1][2]] if cert[1][2] - cert[1][1] < 0x80 else b""
    if algorithm not in _SIGNATURES:
        raise _Aside
    tbs = _items(der, cert[0][1], cert[0][2])
    tags = [tag for tag, _, _ in tbs]
    if (
        tags != [0xA0, 0x02, 0x30, 0x30, 0x30, 0x30, 0x30, 0xA3]
        or der[tbs[0][1] : tbs[0][2]] != b"\x02\x01\x02"
    ):
        raise _Aside
    serial = der[tbs[1][1] : tbs[1][2]]
    if not serial or serial[0] & 0x80 or (len(serial) > 1 and serial[0] == 0 and serial[1] < 0x80):
        raise _Aside
    if der[tbs[2][1] - 2 : tbs[2][2]] != algorithm:
        raise _Aside
    _name(der, tbs[3][1], tbs[3][2])  # the issuer: cryptography parses it too
    validity = _items(der, tbs[4][1], tbs[4][2])
    if len(validity) != 2:
        raise _Aside
    not_before, not_after = (_time(tag, der[s:e]) for tag, s, e in validity)
    subject = _name(der, tbs[5][1], tbs[5][2])
    key = _items(der, tbs[6][1], tbs[6][2])
    if [tag for tag, _, _ in key] != [0x30, 0x03] or der[key[0][1] - 2 : key[0][2]] not in _KEYS:
        raise _Aside
    if der[key[1][1]] != 0:
        raise _Aside
    dns, ips = _extensions(der, *_only(der, tbs[7][1], tbs[7][2], 0x30))
    return LeafFields(subject, dns, ips, not_before, not_after)


def _extensions(der: bytes, start: int, end: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    seen: set[bytes] = set()
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    for tag, s, e in _items(der, start, end) or [(0, 0, 0)]:
        parts = _items(der, s, e) if tag == 0x30 else []
        if len(parts) == 3 and der[parts[1][1] - 2 : parts[1][2]] != b"\x01\x01\xff":
            raise _Aside  # critical must be TRUE when present (FALSE is DER's default, never encoded)
        if len(parts) not in (2, 3) or parts[0][0] != 0x06 or parts[-1][0] != 0x04:
            raise _Aside
        oid = der[parts[0][1] : parts[0][2]]
        if oid in seen:
            raise _Aside
        seen.add(oid)
        critical = len(parts) == 3
        value = der[parts[-1][1] : parts[-1][2]]
        if oid == _SAN:
            dns, ips = _san(value)
        elif oid in _PUBLIC_CA:
            if critical or not _PUBLIC_CA[oid](value):
                raise _Aside
        elif not _known_extension(oid, value):
            if critical or _oid(oid) in _PARSED_BY_CRYPTOGRAPHY:
                raise _Aside
            _well_formed(value, 0, len(value), 0)  # kept as raw bytes by cryptography: skipped, if DER
    return dns, ips


def _well_formed(data: bytes, start: int, end: int, depth: int) -> None:
    """Exactly one DER element from ``start`` to ``end``, every constructed one within well-formed too."""
    if depth > 16:
        raise _Aside
    items = _items(data, start, end)
    if depth == 0 and len(items) != 1:
        raise _Aside
    for tag, s, e in items:
        if tag & 0x20:
            _well_formed(data, s, e, depth + 1)


def _san(value: bytes) -> tuple[tuple[str, ...], tuple[str, ...]]:
    dns: list[str] = []
    ips: list[str] = []
    names = _items(value, *_only(value, 0, len(value), 0x30))
    for tag, s, e in names or [(0, 0, 0)]:
        raw = value[s:e]
        if tag == 0x82 and raw.isascii():
            dns.append(raw.decode("ascii"))
        elif tag == 0x87 and len(raw) in (4, 16):
            ips.append(str(ipaddress.ip_address(raw)))
        else:
            raise _Aside
    return tuple(dns), tuple(ips)


def _known_extension(oid: bytes, value: bytes) -> bool:
    """basicConstraints, keyUsage, extendedKeyUsage, subject/authority key identifier, in their plain forms."""
    if oid == _BASIC:
        ok = value in (b"\x30\x00", b"\x30\x03\x01\x01\xff")
        return ok or (len(value) == 8 and value[:6] == b"\x30\x06\x01\x01\xff\x02" and value[6:7] == b"\x01"
                      and value[7] < 0x80)  # fmt: skip
    if oid == _KEY_USAGE:  # one byte of bits, exactly its trailing zeros unused, no encipherOnly (bit 7)
        if len(value) != 4 or value[:2] != b"\x03\x02" or value[3] == 0 or value[3] & 0x01:
            return False
        return value[2] == (value[3] & -value[3]).bit_length() - 1
    if oid == _EKU:
        usages = _items(value, *_only(value, 0, len(value), 0x30))
        for tag, s, e in usages or [(0, 0, 0)]:
            if tag != 0x06:
                return False
            _oid(value[s:e])
        return True
    if oid == _SKI:
        s, e = _only(value, 0, len(value), 0x04)
        return e > s
    if oid == _AKI:
        s, e = _only(value, 0, len(value), 0x30)
        s, e = _only(value, s, e, 0x80)  # keyIdentifier alone
        return e > s
    return False


def _elements(data: bytes, start: int, end: int, tag: int) -> list[tuple[int, int]]:
    """The (start, end) of each element within ``start``..``end``: at least one, every one tagged ``tag``."""
    items = _items(data, start, end)
    if not items or any(t != tag for t, _, _ in items):
        raise _Aside
    return [(s, e) for _, s, e in items]


def _top(value: bytes) -> list[tuple[int, int]]:
    """The elements of a value that is one non-empty SEQUENCE OF SEQUENCE."""
    return _elements(value, *_only(value, 0, len(value), 0x30), 0x30)


def _uris(data: bytes, start: int, end: int) -> None:
    """GeneralNames that are all uniformResourceIdentifiers ([6] IA5String), non-empty ones, at least one."""
    for s, e in _elements(data, start, end, 0x86):
        if e == s or not data[s:e].isascii():
            raise _Aside


def _access(value: bytes) -> bool:
    """authorityInfoAccess: AccessDescriptions of a method OID and a URI (OCSP, caIssuers)."""
    for s, e in _top(value):
        parts = _items(value, s, e)
        if [tag for tag, _, _ in parts] != [0x06, 0x86]:
            return False
        _oid(value[parts[0][1] : parts[0][2]])
        _uris(value, parts[0][2], e)
    return True


def _crl_points(value: bytes) -> bool:
    """cRLDistributionPoints: each point a distributionPoint of fullName URIs, no reasons, no cRLIssuer."""
    for s, e in _top(value):
        s, e = _only(value, s, e, 0xA0)  # distributionPoint [0] (a CHOICE: explicitly tagged)
        _uris(value, *_only(value, s, e, 0xA0))  # fullName [0] GeneralNames
    return True


def _policies(value: bytes) -> bool:
    """certificatePolicies: distinct policy OIDs, each with no qualifier or CPS-pointer qualifiers only."""
    seen: set[bytes] = set()
    for s, e in _top(value):
        parts = _items(value, s, e)
        if not 1 <= len(parts) <= 2 or parts[0][0] != 0x06 or value[parts[0][1] : parts[0][2]] in seen:
            return False
        seen.add(value[parts[0][1] : parts[0][2]])
        _oid(value[parts[0][1] : parts[0][2]])
        if len(parts) == 2:
            if parts[1][0] != 0x30:
                return False
            for q_s, q_e in _elements(value, parts[1][1], parts[1][2], 0x30):
                qualifier = _items(value, q_s, q_e)  # (policyQualifierId, the CPS URI as an IA5String)
                if [tag for tag, _, _ in qualifier] != [0x06, 0x16]:
                    return False
                (_, id_s, id_e), (_, uri_s, uri_e) = qualifier
                if value[id_s:id_e] != _CPS or not value[uri_s:uri_e].isascii():
                    return False
    return True


def _tls_feature(value: bytes) -> bool:
    """TLS feature (OCSP must-staple): status_request (5) and status_request_v2 (17), each at most once."""
    features = [value[s:e] for s, e in _elements(value, *_only(value, 0, len(value), 0x30), 0x02)]
    return all(f in (b"\x05", b"\x11") for f in features) and len(set(features)) == len(features)


def _scts(value: bytes) -> bool:
    """The embedded SCT list (RFC 6962 3.3): an OCTET STRING holding the TLS-encoded list, each SCT v1 with a
    32-byte log id, a timestamp before 2100, its extensions, SHA-256 with RSA or ECDSA, and a signature."""
    s, e = _only(value, 0, len(value), 0x04)
    tls = value[s:e]
    if len(tls) < 2 or int.from_bytes(tls[:2], "big") != len(tls) - 2 or len(tls) == 2:
        return False
    pos = 2
    while pos < len(tls):
        size = int.from_bytes(tls[pos : pos + 2], "big")
        sct, pos = tls[pos + 2 : pos + 2 + size], pos + 2 + size
        if len(sct) != size or size < 47 or sct[0] != 0:
            return False
        if int.from_bytes(sct[33:41], "big") >= 4102444800000:
            return False
        ext = int.from_bytes(sct[41:43], "big")
        rest = sct[43 + ext :]
        if len(rest) < 4 or rest[0] != 4 or rest[1] not in (1, 3):
            return False
        if int.from_bytes(rest[2:4], "big") != len(rest) - 4 or len(rest) == 4:
            return False
    return pos == len(tls)


_PUBLIC_CA = {_AIA: _access, _CRL_DP: _crl_points, _POLICIES: _policies, _TLS_FEATURE: _tls_feature,
              _SCT_LIST: _scts}  # fmt: skip
