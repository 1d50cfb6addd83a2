"""The ACME client's HTTP, held to one deadline per request: connect, TLS, request and the whole answer.

``requests`` (under the ``acme`` library) takes a timeout per socket operation: a CA -- or anything between
us and it -- that answers one byte a second keeps a renewal waiting forever. :class:`DeadlineAdapter` is the
transport adapter the ACME session uses instead: each request is watched by a timer that, at the deadline,
shuts down the sockets the request is using, and the request then fails with ``NETWORK_TIMEOUT``
(:class:`octorunbook.evidence.deadline.DeadlineExceeded`). The body is read inside the watch, so nothing the server
sends slowly escapes it. The answer is bounded in bytes as well (:data:`MAX_ANSWER`): a CA, a proxy or a
captive portal that streams without end is ``ACME_ANSWER_TOO_LARGE`` instead of a renewal filling memory.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from octorunbook.evidence.deadline import Deadline
from octorunbook.findings import TargetError

__all__ = ["MAX_ANSWER", "REQUEST_SECONDS", "DeadlineAdapter", "mount_deadline"]

REQUEST_SECONDS = 60.0  # one ACME request, whole; an order's polling has its own deadline
# The largest ACME answer: a directory, an order or a chain of a few certificates is kilobytes; a
# certificate with many thousands of names stays under 1 MiB. 4 MiB leaves room for any real CA.
MAX_ANSWER = 4 * 1024 * 1024
_WATCHED = threading.local()


def _watch(conn: Any) -> Any:
    connections = getattr(_WATCHED, "connections", None)
    if connections is not None:
        connections.append(conn)
    return conn


class _Pool(HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return _watch(super()._get_conn(timeout))


class _TLSPool(HTTPSConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return _watch(super()._get_conn(timeout))


def _cut(connections: list[Any]) -> None:
    """At the deadline: shut down every socket the request holds (a blocked recv returns at once)."""
    for conn in list(connections):
        sock: socket.socket | None = getattr(conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose every request ends within ``seconds`` as a whole (``NETWORK_TIMEOUT``)."""

    def __init__(self, seconds: float = REQUEST_SECONDS, **kwargs: Any) -> None:
        self.seconds = seconds
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(request.url or "")
        deadline = Deadline(self.seconds, f"{request.method} {parts.scheme}://{parts.netloc}{parts.path}")
        kwargs["timeout"] = deadline.remaining()  # connect and each read at most what is left
        connections: list[Any] = []
        _WATCHED.connections = connections
        timer = threading.Timer(deadline.left(), _cut, args=(connections,))
        timer.daemon = True
        timer.start()
        try:
            response = super().send(request, *args, **kwargs)
            if not kwargs.get("stream"):
                _read_bounded(response, deadline.what)  # read here, under the watch
        except Exception:
            if deadline.expired:
                raise deadline.exceeded() from None
            raise
        finally:
            timer.cancel()
            _WATCHED.connections = None
        if deadline.expired:  # cut short at the deadline: what was read is not the answer
            response.close()
            raise deadline.exceeded()
        return response


def _read_bounded(response: Any, what: str) -> None:
    """Read the body of ``response`` (at most :data:`MAX_ANSWER` bytes) into it, as ``.content`` would."""
    body = bytearray()
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > MAX_ANSWER:
            response.close()
            raise TargetError(
                "ACME_ANSWER_TOO_LARGE",
                f"The answer to {what} is larger than {MAX_ANSWER // (1024 * 1024)} MiB: no ACME CA sends that.",
                "Check the ACME directory URL and any proxy between this server and the CA (a captive portal "
                "or a wrong URL answers with something else). Nothing was changed.",
            )
    response._content = bytes(body)  # what requests' own .content keeps; .json() and .text read it


def mount_deadline(session: Any, seconds: float = REQUEST_SECONDS) -> None:
    """Give ``session`` (the ACME library's ``requests.Session``) the deadline adapter for http and https."""
    adapter = DeadlineAdapter(seconds)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
