"""One deadline for a whole network operation: connect, TLS handshake, request and read together (every
network operation of octorunbook uses it: the proofs, check, posture, node drain, ACME).

A socket timeout bounds one blocking call: a server that sends one byte a second never trips a 5-second
``recv`` timeout and keeps its client forever. A :class:`Deadline` is the moment the caller's time runs out;
before every blocking call the socket's timeout is set to what is left of it (CPython bounds one
``sendall``, ``do_handshake`` or ``recv_into`` by its timeout as a whole), so the operation ends at the
deadline with ``NETWORK_TIMEOUT`` -- a :class:`DeadlineExceeded`, which is a ``TargetError`` for callers
that report codes and a ``TimeoutError`` for callers that treat any network failure as an ``OSError``.

:func:`http_request` is the one HTTP exchange built on it: no redirect is ever followed (the caller gets
the 3xx and decides; :func:`refuse_cross_origin` is the rule for requests that carry a secret) and the
body read is bounded in bytes as well as in time.
"""

from __future__ import annotations

import io
import ipaddress
import math
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from octorunbook.findings import TargetError

__all__ = [
    "MAX_BODY",
    "Deadline",
    "DeadlineExceeded",
    "RedirectRefused",
    "Reply",
    "http_request",
    "origin",
    "refuse_cross_origin",
    "sni_for",
    "unverified_context",
]

MAX_BODY = 1_000_000  # an API answer or a portal page is kilobytes


class DeadlineExceeded(TargetError, TimeoutError):
    """``NETWORK_TIMEOUT``: the operation did not finish by the deadline its caller gave."""


class RedirectRefused(TargetError):
    """``REDIRECT_REFUSED``: a request carrying a secret was redirected to another origin."""


class Deadline:
    """The moment (``time.monotonic``) by which ``what`` must be done, ``seconds`` from now."""

    def __init__(self, seconds: float, what: str = "the network operation") -> None:
        if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"a deadline needs a finite number of seconds >= 0, got {seconds!r}")
        self.seconds = float(seconds)
        self.what = what
        self.end = time.monotonic() + self.seconds

    @classmethod
    def of(cls, value: Deadline | float, what: str = "the network operation") -> Deadline:
        """``value`` itself when it is a Deadline (one budget shared by every step), else a new one."""
        return value if isinstance(value, Deadline) else cls(value, what)

    def left(self) -> float:
        """Seconds left (0.0 once passed); never raises."""
        return max(0.0, self.end - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.left() <= 0.0

    def capped(self, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now, or this one if it comes first (one try within a wait)."""
        step = Deadline(min(seconds, self.left()), self.what)
        step.seconds = self.seconds if step.end >= self.end else seconds
        return step

    def remaining(self, cap: float | None = None) -> float:
        """Seconds left (at most ``cap``), for the next blocking call; ``NETWORK_TIMEOUT`` when none are."""
        left = self.left()
        if left <= 0.0:
            raise self.exceeded()
        return min(left, cap) if cap is not None else left

    def exceeded(self, during: str = "") -> DeadlineExceeded:
        detail = f" (during {during})" if during else ""
        return DeadlineExceeded(
            "NETWORK_TIMEOUT",
            f"{self.what} did not finish within {self.seconds:g} s{detail}.",
            "Check that the endpoint answers promptly (a server that trickles its answer is cut off at the "
            "deadline), or give a longer timeout.",
        )

    @contextmanager
    def bounded(self, during: str = "") -> Iterator[None]:
        """Turn a socket timeout inside the block into ``NETWORK_TIMEOUT``: every timeout set under a
        deadline is what was left of it."""
        try:
            yield
        except DeadlineExceeded:
            raise
        except (TimeoutError, ssl.SSLError) as exc:
            if isinstance(exc, TimeoutError) or "timed out" in str(exc) or self.expired:
                raise self.exceeded(during) from None
            raise

    def connect(self, host: str, port: int) -> socket.socket:
        """A TCP connection made within the deadline, the name lookup included."""
        addresses = self.resolve(host, port)
        failure: OSError | None = None
        with self.bounded(f"connecting to {host}:{port}"):
            for family, kind, proto, _, address in addresses:  # as socket.create_connection does
                sock = socket.socket(family, kind, proto)
                try:
                    sock.settimeout(self.remaining())
                    sock.connect(address)
                    return sock
                except OSError as exc:
                    sock.close()
                    if isinstance(exc, TimeoutError):
                        raise
                    failure = exc
        raise failure or OSError(f"no address for {host}")

    def resolve(self, host: str, port: int) -> list[Any]:
        """``getaddrinfo`` within the deadline: the C resolver takes no timeout and a DNS server that never
        answers would hold the caller for as long as the system's resolver retries (30 s and more). The
        lookup runs on a daemon thread; at the deadline the caller is answered ``NETWORK_TIMEOUT`` and the
        thread ends with the resolver. An address literal needs no thread."""
        try:
            ipaddress.ip_address(host.strip("[]"))
            return socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
        except ValueError:
            pass
        import threading

        found: list[Any] = []
        done = threading.Event()

        def lookup() -> None:
            try:
                found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
            except UnicodeError:  # a label the IDNA codec refuses (longer than 63, empty): not a name
                found.append(OSError(f"{host!r} is not a host name DNS can look up"))
            except OSError as exc:
                found.append(exc)
            except Exception as exc:  # noqa: BLE001 - anything else the resolver raises, said by the caller
                found.append(OSError(f"looking up {host!r} failed: {type(exc).__name__}"))
            finally:
                done.set()

        threading.Thread(target=lookup, name=f"resolve {host}", daemon=True).start()
        if not done.wait(self.remaining()):
            raise self.exceeded(f"looking up {host}")
        if isinstance(found[0], OSError):
            raise found[0]
        return list(found[0])

    def wrap(
        self, context: ssl.SSLContext, sock: socket.socket, server_hostname: str | None
    ) -> ssl.SSLSocket:
        """The TLS handshake on ``sock``, within the deadline; the returned socket keeps to it too."""
        with self.bounded("the TLS handshake"):
            sock.settimeout(self.remaining())
            return context.wrap_socket(sock, server_hostname=server_hostname)

    def settle(self, sock: socket.socket) -> None:
        """Before a blocking call on ``sock``: its timeout is what is left."""
        sock.settimeout(self.remaining())


def unverified_context() -> ssl.SSLContext:
    """A TLS client context that accepts any certificate: every proof here asks *which* certificate a
    server sends (its thumbprint, its names, its dates, what it negotiates) and judges that itself, and a
    self-signed portal certificate is a legitimate choice a CA check would refuse before we could look."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # we compare the served thumbprint instead of trusting a CA
    return context


def sni_for(name: str) -> str | None:
    """The ``server_hostname`` to send for ``name``: None for an IP address, which SNI cannot carry
    (RFC 6066 3), so every handshake here sends the portal's name the way a browser would."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name
    return None


class _Reader(io.RawIOBase):
    """What ``makefile('rb')`` gives http.client: every ``recv`` gets only the time left."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        super().__init__()
        self._sock, self._deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with self._deadline.bounded("reading the answer"):
            self._deadline.settle(self._sock)
            return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """The socket http.client writes to and reads from, held to one deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self._sock, self._deadline = sock, deadline

    def sendall(self, data: bytes) -> None:
        with self._deadline.bounded("sending the request"):
            self._deadline.settle(self._sock)
            self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_Reader(self._sock, self._deadline))

    def close(self) -> None:
        """http.client closes its socket while the answer may still be read; :func:`http_request` closes
        the real one when it is done (as ``makefile`` keeps a socket open for its reader)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: status, headers (as sent), body (at most ``limit`` bytes)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def http_request(
    method: str,
    scheme: str,
    host: str,
    port: int,
    path: str,
    deadline: Deadline,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    limit: int = MAX_BODY,
) -> Reply:
    """One request to ``host:port`` (HTTPS with ``context``), answered within ``deadline``; no redirect is
    followed. Raises ``NETWORK_TIMEOUT``, or ``OSError``/``http.client.HTTPException`` as the socket does."""
    raw = deadline.connect(host, port)
    sock: socket.socket = raw
    try:
        if scheme == "https":
            sock = deadline.wrap(context or ssl.create_default_context(), raw, server_hostname)
        import http.client  # here: ~15 ms that `octorunbook check` (a handshake, no HTTP) never pays

        conn = http.client.HTTPConnection(host, port)
        conn.sock = _DeadlineSocket(sock, deadline)
        try:
            conn.request(method, path or "/", body=body, headers=dict(headers or {}))
            with deadline.bounded("reading the answer"):
                response = conn.getresponse()
                data = response.read(limit)
            return Reply(response.status, tuple(response.getheaders()), data)
        finally:
            conn.close()
    finally:
        sock.close()
        raw.close()


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an absolute URL: what a secret may be sent to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    return scheme, (parts.hostname or "").lower(), port


def refuse_cross_origin(request_url: str, location: str | None) -> str:
    """The absolute URL a redirect from ``request_url`` to ``location`` leads to, when it stays on the same
    origin; ``REDIRECT_REFUSED`` (naming the Location) when it leaves it or cannot be read."""
    target = urljoin(request_url, location or "")
    try:
        same = bool(location) and origin(target) == origin(request_url)
    except ValueError:
        same = False
    if not same:
        raise RedirectRefused(
            "REDIRECT_REFUSED",
            f"{_without_query(request_url)} redirected to {location!r}, another origin; a request that "
            "carries a secret is not sent on.",
            "Give the server's own address (the one the redirect points to, if you trust it) so no "
            "redirect is needed.",
            details={"location": location or ""},
        )
    return target


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
