"""Which parameters each runbook's form shows, what they are called, and when a field is shown.

Plain data, no widgets: the form, its validation and the tests read the same tables. A form asks the
questions an operator usually answers, a few of the parameters its runbook reads
(``params.runbooks``), never one it does not: a field the runbook ignores would be a lie, so the
table is checked against that set when this module loads. A field whose parameter the installed
``Parameters`` does not have (yet) is left out (:func:`fields_for`).
"""

from __future__ import annotations

from typing import Any

from octorunbook.params.runbooks import PARAMETERS

# The nginx front (``target: nginx``, or the sandbox with ``front: nginx``): where nginx runs, where
# its PEM files go, where it forwards to. Shown only while nginx terminates TLS (:func:`nginx_in_front`).
NGINX_ONLY = ("nginx_bin", "nginx_conf_dir", "nginx_pid", "cert_dir", "octopus_upstream")
# Where the certificate comes from (01 imports it, 04 renews it): the same questions, in the same order.
_CERTIFICATE = ("certificate_source", "pfx_path", "pfx_password_env", "pem_cert_path", "pem_key_path")
_TARGET = ("target", "front", "hostname")


def _read_by_each(fields: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The table as given, once every field is a parameter its runbook reads (ValueError otherwise)."""
    stray = {runbook: [n for n in names if n not in PARAMETERS[runbook]] for runbook, names in fields.items()}
    if any(stray.values()):
        raise ValueError(f"form fields their runbook does not read: {stray}")
    return fields


FIELDS: dict[str, tuple[str, ...]] = _read_by_each(
    {
        "01-import-certificate": (
            *_TARGET,
            *_CERTIFICATE,
            "thumbprint",
            "store",
            "cert_dir",
            "key_type",
            "dry_run",
        ),
        "02-verify-certificate": (*_TARGET, "thumbprint", "store", "cert_dir", "nginx_bin"),
        "03-add-https-binding": (
            *_TARGET,
            "thumbprint",
            "store",
            "https_port",
            "keep_http",
            "force_ssl",
            "hsts_max_age",
            *NGINX_ONLY,
            "dry_run",
        ),
        "04-renew-certificate": (
            *_TARGET,
            *_CERTIFICATE,
            "thumbprint",
            "store",
            "https_port",
            "renew_before_days",
            "force_renew",
            "retire_old",
            *NGINX_ONLY,
            "dry_run",
        ),
        "05-harden-tls": (*_TARGET, "https_port", "posture", "apply", "schannel_cipher_order", "dry_run"),
    }
)

FRONTS = ("httpsys", "nginx")  # the choices of ``front`` when params does not name them itself
LABELS = {
    "target": "Target",
    "hostname": "Portal hostname",
    "certificate_source": "Certificate",
    "pfx_path": "PFX file",
    "pfx_password_env": "Password variable",
    "pem_cert_path": "PEM certificate",
    "pem_key_path": "PEM private key",
    "thumbprint": "Thumbprint",
    "store": "Store (LocalMachine)",
    "key_type": "Key type",
    "dry_run": "Dry run (plan only)",
    "https_port": "HTTPS port",
    "keep_http": "Keep HTTP",
    "force_ssl": "Redirect HTTP→HTTPS",
    "hsts_max_age": "HSTS max-age (s, 0=off)",
    "renew_before_days": "Renew with fewer days left than",
    "force_renew": "Replace now (rotate)",
    "retire_old": "Old certificate after proof",
    "posture": "Posture findings are",
    "apply": "Apply the plan (else plan only)",
    "schannel_cipher_order": "Also set the machine-wide cipher order",
    "front": "TLS front",
    "nginx_bin": "nginx binary",
    "nginx_conf_dir": "nginx configuration folder",
    "nginx_pid": "nginx pid file",
    "cert_dir": "PEM certificate folder",
    "octopus_upstream": "Octopus HTTP address",
}
PLACEHOLDERS = {
    "hostname": "octopus.example.com",
    "pfx_path": "C:\\certs\\octopus.pfx",
    "pem_cert_path": "octopus.crt",
    "pem_key_path": "octopus.key",
    "thumbprint": "pick one below, or paste it from MMC",
    "nginx_bin": "/usr/sbin/nginx",
    "nginx_conf_dir": "/etc/nginx/conf.d",
    "nginx_pid": "/run/nginx.pid",
    "cert_dir": "/etc/octorunbook/certs",
    "octopus_upstream": "http://127.0.0.1:8080",
}
SOURCE_LABELS = {
    "self-signed": "New self-signed",
    "pfx": "PFX file",
    "pem": "PEM files",
    "store": "Already in the store",
    "acme": "ACME (Let's Encrypt)",
}
# Which fields each certificate source needs; the others are hidden (their values are kept).
SOURCE_FIELDS = {
    "self-signed": {"key_type"},
    "pfx": {"pfx_path", "pfx_password_env"},
    "pem": {"pem_cert_path", "pem_key_path"},
    "store": {"thumbprint"},
    "acme": {"key_type"},
}
SOURCE_ONLY: frozenset[str] = frozenset().union(*SOURCE_FIELDS.values())


def fields_for(runbook: str, params: Any) -> tuple[str, ...]:
    """The runbook's fields that these parameters have (the others cannot be shown or set)."""
    return tuple(name for name in FIELDS[runbook] if hasattr(params, name))


def nginx_in_front(values: dict[str, Any]) -> bool:
    """Is nginx what terminates TLS (``target: nginx``, or ``front: nginx``)? Its fields show only then."""
    return values.get("target") == "nginx" or values.get("front") == "nginx"
