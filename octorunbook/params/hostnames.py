"""The one host-name rule: what the parameters, the form, ``octorunbook check`` and the certificate
generator accept as a portal's name (a name the form accepts is a name 01 can put in a certificate).

Standard library only: ``octorunbook check --url`` asks it on every run of a monitoring plugin, which must
not pay for cryptography (the generator's ``check_dns_name`` raises its coded error from this rule).
"""

from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def dns_name(name: str, *, wildcard: bool) -> str | None:
    """``name`` lower-cased without its trailing dot when it is a valid DNS host name, else None.

    International names must come in their xn-- form (the SAN holds A-labels; that is what a browser
    compares); with ``wildcard``, ``*.`` may stand before two or more labels."""
    lowered = name.strip().lower().rstrip(".")
    labels = lowered.split(".")
    if wildcard and labels[0] == "*" and len(labels) >= 3:
        labels = labels[1:]
    if len(lowered) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return lowered


def hostname_ok(name: str, *, wildcard: bool = False) -> bool:
    """The same rule the certificate generator applies; an IP address is accepted too."""
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    return dns_name(name, wildcard=wildcard) is not None and bool(name)
