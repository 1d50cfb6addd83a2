"""The checks of the ``acme_*`` parameters (``certificate_source: acme``), called by ``Parameters.check()``.

It sits below ``params``: it reads the parameters through :class:`AcmeParameters` and owns
``ACME_CHALLENGES``, so ``params`` imports it and not the other way round.

Kept beside the ACME client rather than in ``params.py`` so the shared parameter module grows by a
few lines only. Every problem is a finding with a stable code; nothing is contacted here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from octorunbook.findings import Finding
from octorunbook.redaction import shown_env_name

ACME_CHALLENGES = ("http-01", "dns-01")


class AcmeParameters(Protocol):
    """The parameters these checks read (``params.Parameters`` is one; this module does not import it)."""

    @property
    def acme_directory(self) -> str: ...

    @property
    def acme_email(self) -> str: ...

    @property
    def acme_challenge(self) -> str: ...

    @property
    def acme_ca_bundle(self) -> str: ...

    @property
    def acme_eab_kid(self) -> str: ...

    @property
    def acme_eab_hmac_env(self) -> str: ...

    @property
    def acme_dns_hook(self) -> str: ...

    @property
    def acme_dns_resolver(self) -> str: ...

    @property
    def acme_profile(self) -> str: ...

    @property
    def acme_directory_url(self) -> str: ...

    @property
    def dns_names(self) -> tuple[str, ...]: ...


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PROFILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s:,]+@[^@\s:,]+\.[^@\s:,]+$")


def acme_problems(p: AcmeParameters) -> list[Finding]:
    problems: list[Finding] = []

    def bad(code: str, message: str, remedy: str) -> None:
        problems.append(Finding(code, "error", message, remedy))

    url = urlsplit(p.acme_directory_url)
    if url.scheme != "https" or not url.hostname:
        bad(
            "ACME_DIRECTORY_INVALID",
            f"acme_directory must be an https:// directory URL or 'staging', got {p.acme_directory!r}.",
            "Use https://acme-v02.api.letsencrypt.org/directory (Let's Encrypt), 'staging' to rehearse "
            "against Let's Encrypt staging, or your CA's directory URL.",
        )
    if p.acme_challenge not in ACME_CHALLENGES:
        bad(
            "ACME_CHALLENGE_INVALID",
            f"acme_challenge must be one of {', '.join(ACME_CHALLENGES)}, got {p.acme_challenge!r}.",
            "http-01 when the CA can reach port 80 of this server; dns-01 (with acme_dns_hook) otherwise.",
        )
    if p.acme_challenge == "dns-01" and not p.acme_dns_hook.strip():
        bad(
            "ACME_DNS_HOOK_REQUIRED",
            "acme_challenge is dns-01 but no acme_dns_hook was given.",
            "Set acme_dns_hook to a command that creates (ACTION=present) and removes (ACTION=cleanup) the "
            "TXT record named in OCTORUNBOOK_ACME_RECORD_NAME with OCTORUNBOOK_ACME_RECORD_VALUE.",
        )
    if p.acme_challenge == "http-01" and any(n.startswith("*.") for n in p.dns_names):
        bad(
            "ACME_WILDCARD_NEEDS_DNS01",
            "A wildcard name can only be validated with dns-01.",
            "Set acme_challenge: dns-01 with an acme_dns_hook, or list the names without the wildcard.",
        )
    if p.acme_email and not _EMAIL.match(p.acme_email):
        bad(
            "ACME_EMAIL_INVALID",
            f"acme_email {p.acme_email!r} is not an e-mail address.",
            "Use an address the CA may write to about the account, or leave it empty.",
        )
    if p.acme_ca_bundle and not Path(p.acme_ca_bundle).expanduser().is_file():
        bad(
            "FILE_NOT_FOUND",
            f"acme_ca_bundle: {p.acme_ca_bundle} does not exist or is not a file.",
            "Give the PEM file of the root(s) that issued your private ACME CA's TLS certificate.",
        )
    if bool(p.acme_eab_kid.strip()) != bool(p.acme_eab_hmac_env.strip()):
        bad(
            "ACME_EAB_INCOMPLETE",
            "External account binding needs both acme_eab_kid and acme_eab_hmac_env.",
            "Set acme_eab_kid to the key identifier your CA gave you and acme_eab_hmac_env to the NAME of "
            "the environment variable holding the HMAC key.",
        )
    if p.acme_eab_hmac_env and not _ENV_NAME.match(p.acme_eab_hmac_env):
        bad(
            "ACME_EAB_HMAC_ENV_INVALID",
            f"acme_eab_hmac_env must be an environment variable *name*, got {len(p.acme_eab_hmac_env)} "
            "characters that are not one.",
            "Put the HMAC key in an environment variable and give its name, e.g. OCTORUNBOOK_ACME_EAB_HMAC.",
        )
    elif p.acme_eab_kid.strip() and p.acme_eab_hmac_env and p.acme_eab_hmac_env not in os.environ:
        bad(
            "ACME_EAB_HMAC_MISSING",
            f"acme_eab_hmac_env names no variable that is set ({shown_env_name(p.acme_eab_hmac_env)}); "
            "it may be the HMAC key itself, pasted where its variable's name belongs.",
            "Put the HMAC key in an environment variable (e.g. OCTORUNBOOK_ACME_EAB_HMAC) in the shell that "
            "runs octorunbook, and give that variable's name as acme_eab_hmac_env.",
        )
    if p.acme_dns_resolver and not re.match(r"^[0-9A-Za-z.:\[\]-]+$", p.acme_dns_resolver):
        bad(
            "ACME_DNS_RESOLVER_INVALID",
            f"acme_dns_resolver must be host or host:port, got {p.acme_dns_resolver!r}.",
            "Use the resolver the CA's view should match, e.g. 1.1.1.1 or 127.0.0.1:8053.",
        )
    if p.acme_profile and not _PROFILE.match(p.acme_profile):
        bad(
            "ACME_PROFILE_INVALID",
            f"acme_profile must be a profile name such as classic, tlsserver or shortlived, got "
            f"{p.acme_profile!r}.",
            "Use a name your CA's directory lists under meta.profiles, or leave it empty for the CA's default.",
        )
    return problems


__all__ = ["acme_problems"]
