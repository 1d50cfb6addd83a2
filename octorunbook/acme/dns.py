"""One DNS question, ``TXT`` over UDP (RFC 1035 §4), for the DNS-01 propagation wait.

Neither ``acme`` nor ``josepy`` brings a resolver library, and the wait needs exactly one query type
against one chosen server, so this is the minimum: a query with recursion desired, the answer section
walked (names may be compressed), the character-strings of every TXT record joined per record.
"""

from __future__ import annotations

import secrets
import socket
import struct

from octorunbook.evidence.deadline import Deadline

TXT = 16
IN = 1


def _encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("idna") if label else b""
        if not 0 < len(raw) < 64:
            raise OSError(f"invalid DNS name {name!r}")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def _skip_name(data: bytes, offset: int) -> int:
    while True:
        if offset >= len(data):
            raise OSError("truncated DNS answer")
        length = data[offset]
        if length & 0xC0 == 0xC0:  # compression pointer: two bytes, and the name ends here
            return offset + 2
        offset += 1 + length
        if length == 0:
            return offset


def query_txt(name: str, server: tuple[str, int], timeout: float = 2.0) -> list[str]:
    """The TXT values of ``name`` as ``server`` answers now (empty when there are none), within ``timeout``
    seconds in all: stray datagrams that are not the answer do not extend it (``NETWORK_TIMEOUT``)."""
    deadline = Deadline(timeout, f"the DNS query for {name} to {server[0]}:{server[1]}")
    ident = secrets.randbelow(0x10000)
    question = _encode_name(name) + struct.pack("!HH", TXT, IN)
    packet = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        with deadline.bounded("waiting for the answer"):
            deadline.settle(sock)
            sock.sendto(packet, server)
            while True:
                deadline.settle(sock)
                data, _ = sock.recvfrom(65535)
                if len(data) >= 12 and struct.unpack("!H", data[:2])[0] == ident:
                    break
    _, flags, qdcount, ancount, _, _ = struct.unpack("!HHHHHH", data[:12])
    rcode = flags & 0x000F
    if rcode not in (0, 3):  # NOERROR, NXDOMAIN (not there yet)
        raise OSError(f"DNS server {server[0]}:{server[1]} answered rcode {rcode}")
    offset = 12
    for _ in range(qdcount):
        offset = _skip_name(data, offset) + 4
    values: list[str] = []
    for _ in range(ancount):
        offset = _skip_name(data, offset)
        rtype, _rclass, _ttl, length = struct.unpack("!HHIH", data[offset : offset + 10])
        offset += 10
        rdata = data[offset : offset + length]
        offset += length
        if rtype != TXT:
            continue
        parts, i = [], 0
        while i < len(rdata):
            size = rdata[i]
            parts.append(rdata[i + 1 : i + 1 + size].decode("utf-8", "replace"))
            i += 1 + size
        values.append("".join(parts))
    return values


__all__ = ["query_txt"]
