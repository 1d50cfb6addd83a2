"""03's proof over TLS on any topology: what a browser would see, checked from outside.

The same evidence as the HTTP.sys proof (verify.py's handshake, chain and HTTP probes), against the
intent rather than a topology: the served thumbprint with SNI, the chain up to the issuer the
certificate came with, TLS 1.2+, ``/api`` answering the Octopus document *through* the front, HSTS,
and the HTTP port (a redirect with ``force_ssl``, proxied with ``keep_http``, nothing otherwise).
A proxy that answers 502/503/504 is not Octopus answering: it is polled like no answer at all, and
after the wait it is ``PORTAL_NOT_ANSWERING``.
"""

from __future__ import annotations

import http.client
from typing import TYPE_CHECKING

from octorunbook.evidence.tls import (
    Evidence,
    HttpAnswer,
    served_chain_validates,
    tls_handshake,
    wait_for_portal,
)
from octorunbook.findings import VerificationError
from octorunbook.render import Panel, Row
from octorunbook.runbooks.restore_parts import served_thumbprint as served_thumbprint
from octorunbook.runbooks.undo import WAIT_SECONDS, probe

if TYPE_CHECKING:
    from octorunbook.evidence.deadline import Deadline
    from octorunbook.runbooks.run import Run
    from octorunbook.targets.base import Target
    from octorunbook.targets.protocols import PortalIntent

PROXY_ERRORS = frozenset({502, 503, 504})

REMEDIES = {  # what an operator does about a failed row, by front (``TlsFront.kind``)
    "nginx": {
        "SERVED_WRONG_CERTIFICATE": "The front serves another certificate on this port: check which server "
        "block (or which other process) listens there — `nginx -T | grep -n listen`.",
        "PORTAL_NOT_ANSWERING": "Octopus does not answer behind the front: check that it runs and listens on "
        "octopus_upstream (curl http://127.0.0.1:8080/api on the host), then run 03 again.",
        "API_NOT_OCTOPUS": "Something else answers on this port: check which application holds it.",
        "NO_REDIRECT": "force_ssl is set but HTTP is not redirected: look for another server block on the HTTP port.",
        "HTTP_STILL_ANSWERS": "HTTP should not answer: look for another server block on the HTTP port.",
        "HSTS_MISSING": "HSTS was asked for but the header is not sent: check the managed server block.",
        "SERVED_CHAIN_INCOMPLETE": "The front sends only what fullchain.pem holds: import the certificate with "
        "its intermediates (a PFX or PEM file that carries them) and run 01 and 03 again.",
    },
    "httpsys": {
        "SERVED_WRONG_CERTIFICATE": "HTTP.sys serves another certificate on this port: check `netsh http show "
        "sslcert ipport=0.0.0.0:<port>` and whether another application rebinds it.",
        "PORTAL_NOT_ANSWERING": "The Octopus service did not answer in time: read the Octopus server log "
        "(OctopusServer.txt) for HttpListenerException.",
        "API_NOT_OCTOPUS": "Something else answers on this prefix: check which application holds the port.",
        "NO_REDIRECT": "ForceSSL is set but HTTP is not redirected: restart the Octopus service.",
        "HTTP_STILL_ANSWERS": "HTTP should have been removed: check the listen prefixes.",
        "HSTS_MISSING": "HSTS was enabled but the header is not sent: restart the Octopus service.",
        "SERVED_CHAIN_INCOMPLETE": "HTTP.sys sends the chain Windows builds from LocalMachine\\CA: put the "
        "intermediates there (01 does it from the PFX; check `certutil -store CA`), or bind a PFX that "
        "carries them.",
    },
}


def _through_front(target: Target, scheme: str, port: int, hostname: str, deadline: Deadline) -> HttpAnswer:
    answer = probe(target, scheme, port, hostname, deadline)
    if answer.status in PROXY_ERRORS:
        raise http.client.HTTPException(f"{answer.status} from the front: Octopus behind it does not answer")
    return answer


def prove_portal(run: Run, intent: PortalIntent, http: tuple[str, int] | None) -> Evidence:
    """Evidence rows for ``intent``; recorded in ``run.verification`` and shown as a panel.

    ``http`` is the host name and port where plain HTTP is checked (``OctopusInstance.http_address``);
    None: not checked.
    """
    target = run.require_target()
    hostname, port, thumbprint = intent.hostname, intent.https_port, intent.certificate.thumbprint
    evidence = Evidence()

    def progress(elapsed: float, total: float, detail: str) -> None:
        run.reporter.progress("waiting for the portal over HTTPS", elapsed, total, detail)

    answer, error = wait_for_portal(
        lambda deadline: _through_front(target, "https", port, hostname, deadline),
        timeout=WAIT_SECONDS,
        progress=progress,
    )
    host, real = target.endpoint(port)
    if answer is None:  # said first: the likelier cause of everything else that fails below
        evidence.add(
            "Octopus answers through the front",
            f"{intent.https_url}api answers",
            error or "no answer",
            False,
            "PORTAL_NOT_ANSWERING",
        )
    served_certificate_rows(run, evidence, host, real, hostname, thumbprint)
    if answer is not None:
        api_rows(run, evidence, answer, intent.hsts_max_age)
    if http is not None:
        _prove_http_port(target, intent, http, evidence)
    return finish_proof(run, evidence)


def served_certificate_rows(
    run: Run, evidence: Evidence, host: str, port: int, hostname: str, thumbprint: str
) -> None:
    """The handshake with SNI: the served thumbprint, the chain up to the issuer the certificate came
    with (when 01 kept it), and the TLS version. Shared by both 03s."""
    target = run.require_target()
    try:
        tls = tls_handshake(host, port, hostname)
        evidence.tls = tls
        run.extra["tls"] = tls.to_record()
        evidence.add(
            "served certificate (SHA-1 thumbprint)",
            thumbprint,
            tls.thumbprint,
            tls.thumbprint == thumbprint,
            "SERVED_WRONG_CERTIFICATE",
        )
        anchor = (target.recall(f"issuer-{thumbprint}") or {}).get("pem")
        if anchor:
            chain_ok, chain_seen = served_chain_validates(host, port, hostname, str(anchor))
            evidence.add(
                "served chain validates to the issuer the certificate came with",
                "leaf + intermediates up to that issuer",
                chain_seen,
                chain_ok,
                "SERVED_CHAIN_INCOMPLETE",
            )
        evidence.add(
            "TLS",
            "TLS 1.2 or newer",
            f"{tls.tls_version} {tls.cipher}",
            tls.tls_version in {"TLSv1.2", "TLSv1.3"},
            "TLS_TOO_OLD",
        )
    except OSError as exc:
        evidence.add(
            "served certificate (SHA-1 thumbprint)",
            thumbprint,
            f"handshake failed: {exc}",
            False,
            "SERVED_WRONG_CERTIFICATE",
        )


def api_rows(run: Run, evidence: Evidence, answer: HttpAnswer, hsts_max_age: int) -> None:
    """``/api`` answered the Octopus document over HTTPS; HSTS when it was asked for."""
    doc = answer.json() or {}
    run.octopus_version = str(doc.get("Version", ""))
    evidence.add(
        "GET /api over HTTPS",
        "Octopus JSON (Application, Version)",
        f"{answer.status} {doc.get('Application', '?')} {doc.get('Version', '')}".strip(),
        answer.status == 200 and doc.get("Application") == "Octopus Deploy" and bool(doc.get("Version")),
        "API_NOT_OCTOPUS",
    )
    if hsts_max_age > 0:
        hsts = answer.header("Strict-Transport-Security") or "(absent)"
        evidence.add(
            "HSTS header", f"max-age={hsts_max_age}", hsts, f"max-age={hsts_max_age}" in hsts, "HSTS_MISSING"
        )


def finish_proof(run: Run, evidence: Evidence) -> Evidence:
    """Posture after a passing proof, the rows into the record, and the panel."""
    if evidence.ok:  # what the endpoint accepts, after the proof (warnings; errors with posture: strict)
        from octorunbook.runbooks.posture_step import record_posture

        record_posture(run, evidence)
    run.verification = [c.to_record() for c in evidence.checks]
    rows = [
        Row("ok" if c.ok else "error", c.check, f"expected {c.expected}; seen {c.seen}")
        for c in evidence.checks
    ]
    run.reporter.show(Panel("Proof over TLS", "ok" if evidence.ok else "error", rows))
    return evidence


def _prove_http_port(
    target: Target, intent: PortalIntent, address: tuple[str, int], evidence: Evidence
) -> None:
    hostname, http_port = address
    try:
        plain: HttpAnswer | None = probe(target, "http", http_port, hostname)
    except (OSError, http.client.HTTPException):
        plain = None
    seen = "no answer" if plain is None else f"{plain.status} {plain.header('Location') or ''}".strip()
    if intent.force_ssl:
        location = (plain.header("Location") or "") if plain else ""
        https = intent.https_url.rstrip("/")
        evidence.add(
            "HTTP redirects to HTTPS",
            f"3xx → {https}",
            seen,
            plain is not None and 300 <= plain.status < 400 and location.lower().startswith(https.lower()),
            "NO_REDIRECT",
        )
    elif intent.keep_http:
        evidence.add(
            "HTTP still answers",
            f"http://{hostname}:{http_port}/api answers 200",
            seen,
            plain is not None and plain.status == 200,
            "HTTP_NOT_ANSWERING",
        )
    else:
        evidence.add(
            "HTTP not served", "no answer on the HTTP port", seen, plain is None, "HTTP_STILL_ANSWERS"
        )


def require_proven(evidence: Evidence, front: str) -> None:
    """The first failed row as a ``VerificationError``, with what to do about it on this ``front``."""
    if not evidence.ok:
        first = evidence.failures()[0]
        raise VerificationError(
            first.code or "VERIFY_FAILED",
            f"{first.check}: expected {first.expected}, seen {first.seen}.",
            REMEDIES.get(front, REMEDIES["nginx"]).get(first.code, ""),
        )
