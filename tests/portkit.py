"""Free loopback ports for servers a test starts later (nginx, JupyterLab, Voilà, pebble, a balancer).

A port the kernel hands out for ``bind(("127.0.0.1", 0))`` comes from its ephemeral range, the range every
other process's outgoing connection and every kernel's ZeroMQ sockets take ports from too. A test that picks
one and hands it to nginx seconds later loses it now and then to a neighbour on another pytest-xdist worker
(nginx then fails its reload with "address in use": a failure of the test, not of the code). These ports are
chosen at random below that range, where nothing takes a port unasked, are free when chosen, and are never
handed out twice by one process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_GIVEN: set[int] = set()
_LOWEST = 20000


def _ephemeral() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default; elsewhere the kernel's own range is not read


def _candidates() -> range:
    low, high = _ephemeral()
    if low - _LOWEST >= 2000:
        return range(_LOWEST, low)
    return range(high + 1, 65536)  # a range that starts low: above it instead


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports, free on 127.0.0.1 when chosen (each held while the others are chosen)."""
    candidates = _candidates()
    held: list[socket.socket] = []
    try:
        while len(held) < count:
            port = random.choice(candidates)  # noqa: S311 - spreading ports, not a secret
            if port in _GIVEN:
                continue
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            held.append(sock)
            _GIVEN.add(port)
        return [int(sock.getsockname()[1]) for sock in held]
    finally:
        for sock in held:
            sock.close()


def free_port() -> int:
    return free_ports(1)[0]
