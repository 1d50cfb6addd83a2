"""Which parameters each runbook reads: the one table the notebooks, the forms and the runner follow.

One YAML file still describes the whole portal, but a runbook is handed only what it reads, so its
parameters cell is a list an operator can check line by line, and its record says what it ran with.
The groups below are named after the reason a runbook reads them; the sets are unions of groups, in
the order of :class:`~octorunbook.params.core.Parameters`. ``tests/params/test_runbooks.py`` runs every
runbook with parameters that record each attribute read and fails on a read outside its set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from octorunbook.params.core import Parameters

# Every runbook: which machine and how to reach it (opening the target builds its parts, the HTTP.sys
# store from ``store``), the lock (instance and port), whether anything may change, where its record
# goes, and the PFX password's variable (every run registers that password so that no output of any
# runbook can show it, and no child inherits it).
OPEN_TARGET = (
    "target",
    "sandbox_dir",
    "instance",
    "server_exe",
    "store",
    "front",
    "nginx_bin",
    "nginx_conf_dir",
    "nginx_pid",
    "cert_dir",
    "octopus_upstream",
    "hostname",
    "https_port",
    "dry_run",
    "audit_dir",
    "pfx_password_env",
)
# A runbook that changes the target restores an interrupted change first, unless rollback is False.
CHANGES = ("rollback",)
# Where a certificate comes from and how it is made: 01 imports it, 04 imports its replacement.
CERTIFICATE = (
    "certificate_source",
    "pfx_path",
    "pem_cert_path",
    "pem_key_path",
    "thumbprint",
    "extra_dns_names",
    "key_type",
    "validity_days",
    "pfx_encryption",
    "exportable_key",
)
ACME = (
    "acme_directory",
    "acme_email",
    "acme_challenge",
    "acme_ca_bundle",
    "acme_eab_kid",
    "acme_eab_hmac_env",
    "acme_dns_hook",
    "acme_dns_resolver",
    "acme_profile",
)
# The certificate already in the store that 02 proves and 03 binds (empty: 01's last import).
STORED = ("thumbprint",)
# What 03 writes into the portal's configuration; 04 on the nginx front writes the same server block.
BINDING = ("keep_http", "force_ssl", "hsts_max_age")
# How the TLS posture scanned after a proof counts (03, 04, 05).
POSTURE = ("posture",)
# notify_env: read by the headless runner (run/renew) and check, around every runbook; listed with 04, whose
# scheduled runs are the ones nobody watches.
RENEWAL = ("renew_before_days", "force_renew", "retire_old", "notify_env")
HARDENING = ("apply", "schannel_cipher_order")

_GROUPS: dict[str, tuple[tuple[str, ...], ...]] = {
    "01-import-certificate": (OPEN_TARGET, CHANGES, CERTIFICATE, ACME),
    "02-verify-certificate": (OPEN_TARGET, STORED),
    "03-add-https-binding": (OPEN_TARGET, CHANGES, STORED, BINDING, POSTURE),
    "04-renew-certificate": (OPEN_TARGET, CHANGES, CERTIFICATE, ACME, BINDING, POSTURE, RENEWAL),
    "05-harden-tls": (OPEN_TARGET, CHANGES, POSTURE, HARDENING),
}


def _ordered(groups: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    wanted = {name for group in groups for name in group}
    unknown = wanted - set(Parameters.names())
    if unknown:  # a typo here would silently drop a parameter from a notebook
        raise ValueError(f"not parameters: {', '.join(sorted(unknown))}")
    return tuple(name for name in Parameters.names() if name in wanted)


PARAMETERS: dict[str, tuple[str, ...]] = {runbook: _ordered(groups) for runbook, groups in _GROUPS.items()}


def parameters_of(runbook: str) -> tuple[str, ...]:
    """The parameters ``runbook`` reads, in the parameters cell's order; KeyError for an unknown name."""
    return PARAMETERS[runbook]


def subset(runbook: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``values`` (a parameter file, a record's parameters) that ``runbook`` reads."""
    names = PARAMETERS[runbook]
    return {name: values[name] for name in names if name in values}


__all__ = ["PARAMETERS", "parameters_of", "subset"]
