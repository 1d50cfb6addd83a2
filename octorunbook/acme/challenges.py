"""Answering ACME challenges on a target: HTTP-01 through the portal's own port 80, DNS-01 through a hook.

HTTP-01 (RFC 8555 §8.3): the CA fetches ``http://<name>/.well-known/acme-challenge/<token>`` on port
80, which HTTP.sys — that is, Octopus — already owns. HTTP.sys routes by URL prefix (strong wildcard
``+`` first, then the longest path), so a second registration of
``http://+:80/.well-known/acme-challenge/`` receives exactly those requests while Octopus keeps every
other URL: no service restart, no downtime. This is win-acme's "self-hosting" validation.

Who answers is a role of the target (``TargetParts.responder``, a ``protocols.ChallengeResponder``):
``targets/windows/acme_listener.py`` (one ``HttpListener`` per run through ``serve-acme-challenge.ps1``,
serving every token of the order from its token folder: HTTP.sys takes one registration of the prefix) and
``targets/sandbox/acme_responder.py`` (the stand-in's token folder). A target without one (nginx: a front
octorunbook does not own) is refused before anything is ordered (``ACME_CHALLENGE_UNSUPPORTED``).

Before the CA is asked, :func:`preflight` fetches the challenge URL itself (through the target's port
80, with the portal hostname as Host). A failure is a warning, not an error: from inside the network
the server can look unreachable when the CA's view is fine (hairpin NAT), and the CA's own answer is
the one that counts — it is reported as ``ACME_CHALLENGE_FAILED`` with the CA's detail.

DNS-01 (RFC 8555 §8.4): ``acme_dns_hook`` is run (through the seam, no shell) with

    OCTORUNBOOK_ACME_ACTION        present | cleanup
    OCTORUNBOOK_ACME_RECORD_NAME   _acme-challenge.<name>.   (fully qualified, trailing dot)
    OCTORUNBOOK_ACME_RECORD_VALUE  the TXT value (base64url SHA-256 of the key authorisation)
    OCTORUNBOOK_ACME_DOMAIN        <name>

the convention of certbot's ``--manual-auth-hook`` and win-acme's script plugin, so any DNS provider's
CLI can be wrapped. Then the TXT record is polled at ``acme_dns_resolver`` (host[:port]; empty: the
first ``nameserver`` of /etc/resolv.conf) until the value is visible, with a minimal RFC 1035 query
(``acme_dns.py``) — no resolver library is a dependency of acme/josepy.
"""

from __future__ import annotations

import http.client
import os
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from octorunbook.evidence.deadline import Deadline, http_request
from octorunbook.files import read_limited
from octorunbook.findings import Finding, InputError, TargetError

if TYPE_CHECKING:
    from octorunbook.runbooks.run import Run
    from octorunbook.targets.protocols import ChallengeResponder

HOOK_ENV = ("OCTORUNBOOK_ACME_ACTION", "OCTORUNBOOK_ACME_RECORD_NAME", "OCTORUNBOOK_ACME_RECORD_VALUE")


def _wait_seconds(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


# ------------------------------------------------------------------------------------------------
# HTTP-01
# ------------------------------------------------------------------------------------------------
@contextmanager
def http01_registered(run: Run, token: str, key_authorization: str) -> Iterator[None]:
    """The challenge is served on the target's port 80 inside the ``with``; unregistered after it. The
    ``with`` blocks of one order nest (``orders.answer_authorizations``' ExitStack): the responder serves
    them all from one registration, and the one that closes it reports."""
    responder = require_responder(run)
    with responder.serving(token, key_authorization) as report:
        yield
    if report:
        run.state.setdefault("acme_listener", []).append(report)


def require_responder(run: Run) -> ChallengeResponder:
    """The target's HTTP-01 responder, or ``ACME_CHALLENGE_UNSUPPORTED`` before anything is ordered."""
    target = run.require_target()
    responder = target.parts.responder
    if responder is None:
        raise TargetError(
            "ACME_CHALLENGE_UNSUPPORTED",
            f"The {target.kind} target cannot answer HTTP-01 challenges itself: octorunbook does not add a "
            "challenge location to a front it does not own; nothing was ordered.",
            "Use acme_challenge: dns-01 with acme_dns_hook (it works behind any front).",
        )
    return responder


def preflight(run: Run, token: str, key_authorization: str, name: str) -> bool:
    """Fetch the challenge URL ourselves, through the target's port 80, before the CA is asked."""
    target = run.require_target()
    host, port = target.endpoint(80)
    url = f"http://{name}/.well-known/acme-challenge/{token}"
    seen = ""
    try:
        reply = http_request(
            "GET",
            "http",
            host,
            port,
            f"/.well-known/acme-challenge/{token}",
            Deadline(5.0, f"GET {url} (through {host}:{port})"),
            headers={"Host": name},
            limit=4096,
        )
        body = reply.body.decode("utf-8", "replace").strip()
        if reply.status == 200 and body == key_authorization:
            return True
        seen = f"HTTP {reply.status}, {len(body)} bytes that are not the key authorisation"
    except (OSError, http.client.HTTPException) as exc:
        seen = f"{type(exc).__name__}: {exc}"
    run.note(
        Finding(
            "ACME_PREFLIGHT_FAILED",
            "warning",
            f"Fetching {url} from this machine (port 80 at {host}:{port}) failed: {seen}. The CA is asked "
            "anyway: its view of the network is the one that counts.",
            "Port 80 of this server must be reachable from the internet for http-01 (firewall, NAT, load "
            "balancer); otherwise use acme_challenge: dns-01.",
        )
    )
    return False


# ------------------------------------------------------------------------------------------------
# DNS-01
# ------------------------------------------------------------------------------------------------
def record_name(domain: str) -> str:
    return f"_acme-challenge.{domain.removeprefix('*.').rstrip('.')}."


def hook_argv(command: str, *, windows: bool) -> list[str]:
    """``acme_dns_hook`` as an argv. On Windows the split keeps backslashes (``posix=False``) and with them
    the quotes around a word — ``"C:\\Program Files\\dns\\hook.exe"`` would be run by a name with quotes
    in it (``COMMAND_NOT_FOUND``) — so one pair of surrounding quotes (``"`` or ``'``) is stripped from
    each word.
    Elsewhere the POSIX rules apply (quotes are syntax there)."""
    if not windows:
        return shlex.split(command)
    words = shlex.split(command, posix=False)
    return [w[1:-1] if len(w) >= 2 and w[0] == w[-1] and w[0] in "\"'" else w for w in words]


def run_dns_hook(run: Run, action: str, domain: str, value: str) -> None:
    """Run ``acme_dns_hook`` with the record in its environment; a non-zero exit is ``ACME_DNS``."""
    target = run.require_target()
    argv = hook_argv(run.params.acme_dns_hook, windows=os.name == "nt")
    env = {
        "OCTORUNBOOK_ACME_ACTION": action,
        "OCTORUNBOOK_ACME_RECORD_NAME": record_name(domain),
        "OCTORUNBOOK_ACME_RECORD_VALUE": value,
        "OCTORUNBOOK_ACME_DOMAIN": domain.removeprefix("*."),
    }
    result = target.runner.run(argv, env=env, label=f"acme dns hook {action}", mutating=True, timeout=120)
    if not result.ok:
        raise TargetError(
            "ACME_DNS",
            f"The DNS hook failed to {action} {record_name(domain)} (exit {result.exit_code}): "
            f"{(result.stderr or result.stdout).strip()[-500:]}",
            "Run the hook by hand with OCTORUNBOOK_ACME_ACTION/RECORD_NAME/RECORD_VALUE set and fix it; "
            "nothing was changed on the server.",
        )


def resolver_address(setting: str) -> tuple[str, int] | None:
    """``acme_dns_resolver`` as (host, port); empty: the first nameserver of /etc/resolv.conf."""
    text = setting.strip()
    if not text:
        with suppress(OSError, InputError):
            text_of = read_limited("/etc/resolv.conf", 64 * 1024, what="resolver configuration")
            for line in text_of.decode("utf-8", "replace").splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    return parts[1], 53
        return None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, 53


def wait_for_txt(run: Run, domain: str, value: str) -> float:
    """Poll the resolver until the TXT value is visible; seconds waited. ``ACME_DNS`` when it never is."""
    from octorunbook.acme.dns import query_txt

    address = resolver_address(run.params.acme_dns_resolver)
    name = record_name(domain)
    if address is None:
        run.note(
            Finding(
                "ACME_DNS_NOT_CHECKED",
                "warning",
                f"No resolver to check {name} with (no acme_dns_resolver and no /etc/resolv.conf).",
                "Set acme_dns_resolver to the DNS server that should see the record, e.g. 1.1.1.1.",
            )
        )
        return 0.0
    started = time.monotonic()
    limit = _wait_seconds("OCTORUNBOOK_ACME_DNS_WAIT_SECONDS", 120)
    last = ""
    while True:
        try:
            if value in query_txt(name, address):
                return time.monotonic() - started
            last = "record not there yet"
        except OSError as exc:
            last = str(exc)
        if time.monotonic() - started > limit:
            raise TargetError(
                "ACME_DNS",
                f"{name} TXT did not show the new value at {address[0]}:{address[1]} within {limit:.0f} s "
                f"({last}).",
                "Check the hook really creates the record in the zone that is authoritative for the name; "
                "raise OCTORUNBOOK_ACME_DNS_WAIT_SECONDS for slow providers.",
            )
        time.sleep(0.5)


__all__ = [
    "HOOK_ENV",
    "hook_argv",
    "http01_registered",
    "require_responder",
    "preflight",
    "record_name",
    "resolver_address",
    "run_dns_hook",
    "wait_for_txt",
]
