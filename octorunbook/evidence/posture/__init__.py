"""TLS posture: what the portal really accepts, as evidence (issue 16).

Proving "the portal serves this certificate" is half of HTTPS done right; the other half is what the
endpoint accepts. :func:`scan` asks, with Python's own ``ssl`` module and one handshake per question:

* which protocol versions it accepts (TLS 1.0, 1.1, 1.2, 1.3);
* which TLS 1.2 cipher suites of a fixed list of weak and strong ones it accepts;
* whether the served chain validates against the system trust store and against a bundle the operator
  gives (the chain or CA their clients trust), and whether the certificate covers the hostname;
* the HSTS header on ``GET /`` over HTTPS (max-age, includeSubDomains).

The answer is a :class:`PostureReport`: ``rows`` (check, expected, seen, severity), ``findings`` with the
stable codes below, ``to_record()`` for the audit record, :func:`text_table` for a terminal and
:func:`posture_panel` for a notebook. Findings are warnings by default -- the portal was working before,
and posture does not fail a binding run -- and errors with ``posture="strict"``.

Codes::

    TLS_LEGACY_PROTOCOL          TLS 1.0 or 1.1 accepted
    TLS_WEAK_CIPHER              a weak TLS 1.2 suite accepted (RC4, 3DES, NULL, RSA key exchange, CBC-SHA1)
    CHAIN_UNTRUSTED_FOR_CLIENTS  the chain validates neither against the system store nor the given bundle
    HSTS_MISSING                 no Strict-Transport-Security header (or max-age=0)
    HSTS_TOO_SHORT               max-age below ``hsts_min_age`` (one year by default)
    HOSTNAME_MISMATCH            the served certificate does not cover the hostname

``backend="sslyze"`` uses the optional, AGPLv3-licensed sslyze for the protocol and suite rows (full
enumeration); it is imported only then, never by this package (``pip install octorunbook[sslyze]``).
"""

from __future__ import annotations

from octorunbook.evidence.posture._probe import PROTOCOLS, SUITES, Protocol, Suite
from octorunbook.evidence.posture._report import (
    CODES,
    NOT_TESTABLE,
    ONE_YEAR,
    Front,
    PostureMode,
    PostureReport,
    PostureRow,
    posture_panel,
    remedy_for,
    text_table,
)
from octorunbook.evidence.posture._scan import parse_endpoint, scan

__all__ = [
    "CODES",
    "NOT_TESTABLE",
    "ONE_YEAR",
    "PROTOCOLS",
    "SUITES",
    "Front",
    "PostureMode",
    "PostureReport",
    "PostureRow",
    "Protocol",
    "Suite",
    "parse_endpoint",
    "posture_panel",
    "remedy_for",
    "scan",
    "text_table",
]
