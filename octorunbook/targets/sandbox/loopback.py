"""Loopback ports and processes for the sandbox: is a port free on 127.0.0.1, a free one, is a pid a zombie."""

from __future__ import annotations

from pathlib import Path

# socket is imported where a port is checked: every stand-in command imports this module, few pick a port


def port_is_free(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pick_port(wanted: int | None, used: set[int]) -> int:
    """The real port for a prefix port: ``wanted`` itself when unprivileged and free, else a free one;
    never one in ``used`` (two prefix ports never share a real port)."""
    real = (
        wanted if wanted is not None and wanted >= 1024 and wanted not in used and port_is_free(wanted) else 0
    )
    while not real or real in used:
        real = free_port()
    return real


def is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"
