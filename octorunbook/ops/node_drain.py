"""Draining an Octopus Server node through its REST API, and waiting for the load balancer to see it.

The facts this relies on (Octopus docs, "Load balancers" and "Octopus Server Nodes" API):

* ``GET /api/octopusservernodes/ping`` answers **200** while the node is online and not draining, **418**
  while it is online and draining; anything else (including no answer) means the node is down.
* ``GET /api/octopusservernodes`` lists the cluster's nodes (``Id``, ``Name``, ``IsInMaintenanceMode``,
  ``MaxConcurrentTasks``); a node is changed by ``PUT /api/octopusservernodes/{Id}`` with the resource.
  The PUT is not shown in the documentation excerpt we had, so the client is defensive: it reads the node
  back after the PUT and trusts only what the server then says (``NODE_DRAIN_NOT_APPLIED`` otherwise).

The API key travels in the ``X-Octopus-ApiKey`` header only, and only to the origin (scheme, host, port)
the operator named: a redirect elsewhere is ``REDIRECT_REFUSED``. The command line carries the *name* of
the variable holding it, the key is never printed, and it is registered as a secret for redaction. Every
request ends at its deadline as a whole (a server that trickles its answer cannot hold a drain).
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from octorunbook.evidence.deadline import Deadline, Reply, http_request, origin, refuse_cross_origin
from octorunbook.files import read_limited
from octorunbook.findings import InputError, TargetError
from octorunbook.redaction import SECRETS, env_name_ok

PING_PATH = "/api/octopusservernodes/ping"
NODES_PATH = "/api/octopusservernodes"
DRAINING, ONLINE = 418, 200
MAX_REDIRECTS = 5


class NodeError(TargetError):
    """The Octopus node API or the ping did not answer as it should."""


@dataclass(frozen=True)
class Server:
    """One Octopus Server base URL (a node's own address, or the cluster's) and how to trust it."""

    url: str
    ca_bundle: str | None = None
    timeout: float = 10.0

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise InputError(
                "NODE_URL_INVALID",
                f"{self.url!r} is not an http(s) URL of an Octopus Server.",
                "Give the base URL, e.g. https://octopus1.example.com or http://localhost:8080.",
            )
        object.__setattr__(self, "url", self.url.rstrip("/"))

    def _context(self) -> ssl.SSLContext | None:
        if not self.url.startswith("https://"):
            return None
        if self.ca_bundle is None:
            return ssl.create_default_context()
        pem = read_limited(self.ca_bundle, what="CA bundle").decode("ascii", "replace")
        return ssl.create_default_context(cadata=pem)

    def request(
        self,
        method: str,
        path: str,
        api_key: str | None = None,
        body: Any = None,
        deadline: Deadline | None = None,
    ) -> tuple[int, Any]:
        """(HTTP status, decoded JSON or None); a refused or timed-out connection is status 0.

        The whole exchange (connect, handshake, request, answer) ends at ``deadline`` (default: ``timeout``
        seconds from now). A redirect is followed only on this server's own origin and only for GET; a
        request carrying the API key that is sent to another origin is ``REDIRECT_REFUSED``.
        """
        deadline = deadline or Deadline(self.timeout, f"{method} {self.url}{path.split('?')[0]}")
        headers = {"Accept": "application/json"}
        data = None
        if api_key is not None:
            headers["X-Octopus-ApiKey"] = api_key
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        url = self.url + path
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                reply = self._send(method, url, headers, data, deadline)
            except (OSError, http.client.HTTPException):
                return 0, None
            location = reply.header("Location")
            if not (300 <= reply.status < 400 and location is not None):
                break
            if api_key is not None:
                url = refuse_cross_origin(url, location)  # REDIRECT_REFUSED on another origin
            elif origin(urllib.parse.urljoin(url, location)) != origin(url):
                break  # an unauthenticated ping is not chased to another host: its status is the answer
            else:
                url = urllib.parse.urljoin(url, location)
            if method != "GET":
                break
        try:
            return reply.status, json.loads(reply.body) if reply.body else None
        except ValueError:
            return reply.status, None

    def _send(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None, deadline: Deadline
    ) -> Reply:
        parts = urllib.parse.urlsplit(url)
        scheme, host, port = origin(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        return http_request(
            method,
            scheme,
            host,
            port,
            target,
            deadline,
            headers={"Host": parts.netloc, **headers},
            body=data,
            context=self._context(),
            server_hostname=host if scheme == "https" else None,
        )


def api_key_from(env_name: str) -> str:
    """The API key from the variable the operator named; registered so no record or log ever shows it."""
    if not env_name_ok(env_name):
        raise InputError(
            "NODE_API_KEY_ENV_INVALID",
            "--api-key-env must be the NAME of an environment variable, not the key itself.",
            "export OCTOPUS_API_KEY=API-… and pass --api-key-env OCTOPUS_API_KEY.",
        )
    key = os.environ.get(env_name, "")
    if not key:
        raise InputError(
            "NODE_API_KEY_MISSING",
            f"The environment variable {env_name} is not set.",
            f"Set {env_name} to an Octopus API key (API-…) of a user allowed to configure nodes.",
        )
    SECRETS.add(key)
    return key


def ping(node: Server, deadline: Deadline | None = None) -> int:
    """The status the load balancer sees on this node's ping: 200, 418, or anything else (0 = no answer),
    within ``deadline`` (default: the node's ``timeout``)."""
    return node.request("GET", PING_PATH, deadline=deadline)[0]


def wait_for(node: Server, expected: int, timeout: float, interval: float = 0.25) -> float:
    """Poll the ping until it answers ``expected``; the seconds it took, or ``NODE_WAIT_TIMEOUT``."""
    started = time.monotonic()
    deadline = Deadline(timeout, f"waiting for {node.url}{PING_PATH}")
    seen = ping(node, deadline.capped(node.timeout))
    while seen != expected:
        if deadline.expired:
            what = {0: "no answer", ONLINE: "200 (online)", DRAINING: "418 (draining)"}.get(seen, str(seen))
            raise NodeError(
                "NODE_WAIT_TIMEOUT",
                f"{node.url}{PING_PATH} still answers {what} after {timeout:g} s; expected {expected}.",
                "Look at the node (service running? drain state in Configuration ▸ Nodes) and run the "
                "command again, or raise --timeout.",
            )
        time.sleep(min(interval, deadline.left()))
        seen = ping(node, deadline.capped(node.timeout)) if not deadline.expired else seen
    return time.monotonic() - started


def find_node(server: Server, name: str, api_key: str) -> dict[str, Any]:
    """The node resource whose Name is ``name`` (case-insensitive, as Windows machine names are)."""
    query = urllib.parse.urlencode({"partialName": name, "take": 100})
    status, page = server.request("GET", f"{NODES_PATH}?{query}", api_key)
    if status in {401, 403}:
        raise NodeError(
            "NODE_API_UNAUTHORIZED",
            f"Octopus refused the API key ({status}) on {server.url}{NODES_PATH}.",
            "Use an API key of a user with the ConfigureServer permission.",
        )
    if status != 200 or not isinstance(page, dict):
        raise NodeError(
            "NODE_API_UNAVAILABLE",
            f"{server.url}{NODES_PATH} answered {status or 'nothing'}; cannot read the cluster's nodes.",
            "Check the URL (the node or the cluster address) and that Octopus is running.",
        )
    items = [i for i in page.get("Items") or [] if isinstance(i, dict)]
    match = [i for i in items if str(i.get("Name", "")).lower() == name.lower()]
    if len(match) != 1:
        names = ", ".join(str(i.get("Name")) for i in items) or "none"
        raise NodeError(
            "NODE_NOT_FOUND",
            f"No single Octopus Server node is named {name!r} (nodes found: {names}).",
            "Use the node name shown in Configuration ▸ Nodes (usually the machine name).",
        )
    return match[0]


def set_drain(server: Server, name: str, api_key: str, drained: bool) -> tuple[dict[str, Any], bool]:
    """Put the node in (or out of) drain mode; (the node as read back, whether it was drained before)."""
    node = find_node(server, name, api_key)
    before = bool(node.get("IsInMaintenanceMode"))
    if before != drained:
        status, _ = server.request(
            "PUT", f"{NODES_PATH}/{node['Id']}", api_key, {**node, "IsInMaintenanceMode": drained}
        )
        if status not in {200, 201, 204}:
            raise NodeError(
                "NODE_DRAIN_FAILED",
                f"Octopus answered {status or 'nothing'} to the change of node {name!r}'s drain mode.",
                "Check the API key's permissions (ConfigureServer) and the Octopus server log.",
            )
        node = find_node(server, name, api_key)
        if bool(node.get("IsInMaintenanceMode")) != drained:
            raise NodeError(
                "NODE_DRAIN_NOT_APPLIED",
                f"Node {name!r} still reports IsInMaintenanceMode={not drained} after the change.",
                "Drain it by hand (Configuration ▸ Nodes ▸ Drain) and look at the Octopus server log.",
            )
    return node, before
