"""A strict DER reader for what ``octorunbook check`` judges in a served leaf: its names and validity.

``octorunbook check`` runs every minute on every portal; importing cryptography's x509 costs it ~45 ms
(more than the rest of the check together). This reader answers for the **plain profile** only — a v3
certificate signed with RSA/ECDSA/Ed25519, single-valued name attributes in PrintableString / UTF8String /
IA5String, a validity in canonical UTCTime (GeneralizedTime from 2050), and no extension but
subjectAltName (DNS and IP entries), basicConstraints, keyUsage, extendedKeyUsage, subject and authority
key identifiers — every element in canonical DER. For anything else it returns None and the caller reads
the certificate with cryptography, exactly as before: a certificate this reader accepts is one
cryptography accepts too, with the same subject (RFC 4514, cryptography's escaping), names and dates
(``tests/evidence/test_leaf_der.py`` holds the two readers to the same answers, and to the fallback for
each thing outside the profile). Never a weaker reading: when unsure, it steps aside.
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
_SAN, _BASIC, _KEY_USAGE, _EKU, _SKI, _AKI = (
    bytes.fromhex("551d" + n) for n in ("11", "13", "0f", "25", "0e", "23")
)
_SHORT = {"2.5.4.3": "CN", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.6": "C",
          "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID"}  # fmt: skip
_PRINTABLE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")


class _Aside(Exception):
    """Outside the plain profile: cryptography reads this certificate."""


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
        value = der[parts[-1][1] : parts[-1][2]]
        if oid == _SAN:
            dns, ips = _san(value)
        elif not _known_extension(oid, value):
            raise _Aside
    return dns, ips


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
