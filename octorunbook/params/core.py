"""The one parameter set shared by the three runbooks (one YAML file drives all of them).

Validation happens here, once, at the boundary: every later step sees typed, checked values. Bad input
is an ``InputError`` with a stable code and a remedy, raised before anything is touched.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from octorunbook.findings import Finding, InputError
from octorunbook.params.acme import ACME_CHALLENGES as ACME_CHALLENGES
from octorunbook.params.acme import acme_problems
from octorunbook.params.hostnames import hostname_ok as hostname_ok
from octorunbook.params.names import refuse_unknown
from octorunbook.params.nginx import ABSOLUTE_PATHS as ABSOLUTE_PATHS
from octorunbook.params.nginx import DEFAULT_UPSTREAM, NGINX_DEFAULTS, front_problems
from octorunbook.params.nginx import FRONTS as FRONTS
from octorunbook.redaction import SECRETS, env_name_ok, looks_like_secret_name, shown_env_name

TARGETS = ("sandbox", "windows", "nginx")
SOURCES = ("self-signed", "pfx", "pem", "store", "acme")
STORES = ("My", "WebHosting")
KEY_TYPES = ("rsa2048", "rsa3072", "rsa4096", "ecdsa-p256", "ecdsa-p384")
PFX_ENCRYPTIONS = ("auto", "compatible", "aes")
RETIRE_CHOICES = ("after-expiry", "remove")
POSTURES = ("default", "strict")
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
# An Octopus instance name becomes part of file names (the lock) and, on Windows, of an elevated
# command line: letters, digits, space, dot, dash and underscore; no path, no trailing dot or space.
_INSTANCE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ._-]{0,62}[A-Za-z0-9_-])?")
PATH_PARAMETERS = (
    "sandbox_dir",
    "server_exe",
    "pfx_path",
    "pem_cert_path",
    "pem_key_path",
    "audit_dir",
    "nginx_bin",
    "nginx_conf_dir",
    "nginx_pid",
    "cert_dir",
)
MAX_TEXT = 4096  # no parameter is longer than a path; a megabyte string is a mistake or an attack
MAX_DNS_NAMES = 100


class ParameterError(InputError):
    """A parameter that is wrong: refused before a kernel starts, exit code 2 on the command line."""

    usage = True


def normalise_hostname(name: str) -> str:
    """The host name as it will be used everywhere: no surrounding white space or trailing dot, lower case, an IPv6
    literal in its compressed form (zone ids are left in place for :meth:`Parameters.check` to refuse)."""
    import ipaddress

    text = name.strip().lower()
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if "%" not in bare:
        try:
            return str(ipaddress.ip_address(bare))
        except ValueError:
            pass
    return text.rstrip(".")  # the certificate generator's rule: "octopus.example.com." is the same name


def default_sandbox_dir() -> Path:
    """Where the sandbox lives when ``sandbox_dir`` is empty: ``$OCTORUNBOOK_HOME/sandbox``, else
    ``~/.octorunbook/sandbox``. The parameter's default, so it is resolved here, with the parameter."""
    home = os.environ.get("OCTORUNBOOK_HOME") or str(Path.home() / ".octorunbook")
    return Path(home) / "sandbox"


def url_host(name: str) -> str:
    """``name`` as it goes into a URL or a listen prefix: IPv6 literals in brackets."""
    return f"[{name}]" if ":" in name else name


# Fields that name the environment variable holding a secret: a value pasted there may be the secret.
SECRET_ENV_FIELDS = frozenset({"pfx_password_env", "acme_eab_hmac_env", "notify_env"})


@dataclass(frozen=True)
class Parameters:
    """Every runbook parameter, with the committed (safe) defaults: the sandbox, never a real server."""

    target: str = "sandbox"
    sandbox_dir: str = ""
    instance: str = "OctopusServer"
    server_exe: str = ""
    hostname: str = "localhost"
    certificate_source: str = "self-signed"
    pfx_path: str = ""
    pfx_password_env: str = "OCTORUNBOOK_PFX_PASSWORD"
    pem_cert_path: str = ""
    pem_key_path: str = ""
    thumbprint: str = ""
    store: str = "My"
    extra_dns_names: str = ""
    key_type: str = "rsa2048"
    validity_days: int = 397
    pfx_encryption: str = "auto"
    exportable_key: bool = False
    https_port: int = 443
    keep_http: bool = True
    force_ssl: bool = False
    hsts_max_age: int = 0
    dry_run: bool = False
    rollback: bool = True
    audit_dir: str = "audit"
    renew_before_days: int = 0  # 0: by the certificate's lifetime (evidence.lifetime); N > 0: N days
    force_renew: bool = False
    retire_old: str = "after-expiry"
    posture: str = "default"
    apply: bool = False
    schannel_cipher_order: bool = False
    acme_directory: str = LETS_ENCRYPT
    acme_email: str = ""
    acme_challenge: str = "http-01"
    acme_ca_bundle: str = ""
    acme_eab_kid: str = ""
    acme_eab_hmac_env: str = ""
    acme_dns_hook: str = ""
    acme_dns_resolver: str = ""
    front: str = "httpsys"
    nginx_bin: str = NGINX_DEFAULTS["nginx_bin"]
    nginx_conf_dir: str = NGINX_DEFAULTS["nginx_conf_dir"]
    nginx_pid: str = NGINX_DEFAULTS["nginx_pid"]
    cert_dir: str = NGINX_DEFAULTS["cert_dir"]
    octopus_upstream: str = DEFAULT_UPSTREAM
    acme_profile: str = ""
    notify_env: str = ""  # NAME of the environment variable holding Apprise URLs (never the URLs)

    def __post_init__(self) -> None:
        # Validation and use see the same value: "localhost " must not pass as "localhost" and then
        # be written into the Octopus configuration with its space.
        if isinstance(self.hostname, str):
            object.__setattr__(self, "hostname", normalise_hostname(self.hostname))
        if isinstance(self.extra_dns_names, str):
            names = [normalise_hostname(n) for n in self.extra_dns_names.split(",") if n.strip()]
            object.__setattr__(self, "extra_dns_names", ",".join(names))
        # What the operator gave as public stays readable even if a password happens to occur in it.
        SECRETS.add_public(
            str(getattr(self, f.name))
            for f in fields(self)
            if f.name not in SECRET_ENV_FIELDS and isinstance(getattr(self, f.name), str)
        )
        SECRETS.add_public([*self.dns_names, self.https_prefix])

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, strict: bool = False) -> Parameters:
        """Build from a notebook namespace or a YAML mapping; refuse anything that looks like a secret.

        ``strict``: refuse a name that is no parameter (with a did-you-mean). The doors read parameters
        through :mod:`octorunbook.params.loading`, which is always strict; non-strict is for callers that
        hand over a mapping holding other things too (a record, a test's namespace)."""
        odd = [k for k in values if not isinstance(k, str)]
        if odd:
            raise ParameterError(
                "PARAMETER_INVALID",
                f"Parameter names must be text; {len(odd)} name(s) are not (e.g. a number or a list).",
                "Write each parameter as name: value, with a plain name.",
            )
        refuse_secrets(values)
        known = set(cls.names())
        if strict:  # every door is strict (octorunbook.params.loading): a typo is no default
            refuse_unknown(values, known)
        chosen = {k: values[k] for k in known if k in values}
        names = chosen.get("extra_dns_names")
        if isinstance(names, (list, tuple)):
            if len(names) > MAX_DNS_NAMES or not all(isinstance(v, str) for v in names):
                raise ParameterError(
                    "PARAMETER_INVALID",
                    f"extra_dns_names must be at most {MAX_DNS_NAMES} names, each a plain string.",
                    "List the names the certificate must cover, e.g. [octopus, octopus.corp.example].",
                )
            chosen["extra_dns_names"] = ",".join(names)
        for name, value in chosen.items():
            if isinstance(value, (dict, list, tuple, set)):
                raise ParameterError(
                    "PARAMETER_INVALID",
                    f"{name} must be a single value, got a {type(value).__name__}.",
                    f"Give {name} one value.",
                )
            if isinstance(value, str) and len(value) > MAX_TEXT:
                raise ParameterError(
                    "PARAMETER_INVALID",
                    f"{name} is {len(value)} characters long; at most {MAX_TEXT} are accepted.",
                    f"Check {name}.",
                )
        params = cls(**chosen)
        return params.coerced()

    def coerced(self) -> Parameters:
        """Types as declared: YAML and papermill give strings for what should be ints and bools.

        Only unambiguous spellings are accepted — ``rollback: Ture`` must not quietly mean False.
        """
        updates: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            default = getattr(Parameters, f.name)
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    word = str(value).strip().lower()
                    if word not in _TRUE | _FALSE:
                        raise ParameterError(
                            "PARAMETER_INVALID",
                            f"{f.name} must be True or False, got {value!r}.",
                            f"Set {f.name} to True or False.",
                        )
                    updates[f.name] = word in _TRUE
            elif isinstance(default, int):
                if isinstance(value, bool) or not isinstance(value, int):
                    try:
                        if isinstance(value, bool):
                            raise ValueError
                        updates[f.name] = int(str(value).strip())
                    except ValueError:
                        raise ParameterError(
                            "PARAMETER_INVALID",
                            f"{f.name} must be a whole number, got {value!r}.",
                            f"Set {f.name} to a number.",
                        ) from None
            elif not isinstance(value, str):
                updates[f.name] = "" if value is None else str(value)
        return replace(self, **updates) if updates else self

    def to_record(self) -> dict[str, Any]:
        """The parameters as a record shows them: a ``pfx_password_env`` that is no variable's name
        (most likely the password itself, pasted into the wrong field) is shown only by its length."""
        record = asdict(self)
        record["pfx_password_env"] = shown_env_name(self.pfx_password_env)
        if self.notify_env:  # a pasted URL (a token) is shown by its length only
            record["notify_env"] = shown_env_name(self.notify_env)
        if self.acme_eab_hmac_env:  # no default: shown only when it names a variable that is set
            record["acme_eab_hmac_env"] = shown_env_name(self.acme_eab_hmac_env)
        return record

    @property
    def dns_names(self) -> tuple[str, ...]:
        extra = [n.strip() for n in self.extra_dns_names.split(",") if n.strip()]
        return tuple(dict.fromkeys([self.hostname, *extra]))

    @property
    def https_prefix(self) -> str:
        return f"https://{url_host(self.hostname)}:{self.https_port}/"

    def resolved_sandbox_dir(self) -> Path:
        return Path(self.sandbox_dir).expanduser() if self.sandbox_dir else default_sandbox_dir()

    def check(self) -> list[Finding]:
        """Every problem with these values, as findings (errors block the run). Touches nothing."""
        problems: list[Finding] = []

        def bad(code: str, message: str, remedy: str) -> None:
            problems.append(Finding(code, "error", message, remedy))

        if self.target not in TARGETS:
            bad(
                "TARGET_INVALID",
                f"target must be 'sandbox', 'windows' or 'nginx', got {self.target!r}.",
                "Use target: sandbox to rehearse, target: windows on the Octopus server itself, target: nginx "
                "on the Linux host whose nginx fronts Octopus.",
            )
        problems += self._front_check()
        if "%" in self.hostname:
            bad(
                "HOSTNAME_INVALID",
                "hostname holds an IPv6 zone id (the part after %); a listen prefix cannot carry one.",
                "Use the portal's DNS name, or an IPv6 address without a zone id.",
            )
        elif not hostname_ok(self.hostname):
            bad(
                "HOSTNAME_INVALID",
                f"{self.hostname!r} is not a valid DNS host name.",
                "Use the name browsers will use for the portal, e.g. octopus.example.com.",
            )
        if not 1 <= self.https_port <= 65535:
            bad(
                "PORT_INVALID",
                f"https_port must be 1-65535, got {self.https_port}.",
                "Use 443 unless it is taken.",
            )
        if self.store not in STORES:
            bad(
                "STORE_INVALID",
                f"store must be 'My' or 'WebHosting', got {self.store!r}.",
                "Octopus binds only certificates from LocalMachine\\My or LocalMachine\\WebHosting.",
            )
        if self.certificate_source not in SOURCES:
            bad(
                "CERTIFICATE_SOURCE_INVALID",
                f"certificate_source must be one of {', '.join(SOURCES)}, got {self.certificate_source!r}.",
                "Choose self-signed (rehearsal), pfx (a certificate from your CA) or store (already imported).",
            )
        if self.key_type not in KEY_TYPES:
            bad(
                "KEY_TYPE_INVALID",
                f"key_type must be one of {', '.join(KEY_TYPES)}.",
                "rsa2048 works everywhere.",
            )
        if self.pfx_encryption not in PFX_ENCRYPTIONS:
            bad(
                "PFX_ENCRYPTION_INVALID",
                f"pfx_encryption must be one of {', '.join(PFX_ENCRYPTIONS)}.",
                "auto picks AES-256 on Windows Server 2019+ and 3DES on older builds.",
            )
        if not 1 <= self.validity_days <= 825:
            bad(
                "VALIDITY_INVALID",
                f"validity_days must be 1-825, got {self.validity_days}.",
                "397 days is what browsers accept for public certificates.",
            )
        if self.hsts_max_age < 0:
            bad(
                "HSTS_INVALID",
                "hsts_max_age must be 0 (off) or a number of seconds.",
                "Start with 3600 (one hour), as the Octopus docs recommend.",
            )
        if not 0 <= self.renew_before_days <= 3650:
            bad(
                "RENEW_BEFORE_DAYS_INVALID",
                f"renew_before_days must be 0-3650, got {self.renew_before_days}.",
                "0 (the default) renews with a third of the certificate's lifetime left (half under 10 days); "
                "a number of days overrides that, e.g. 30 for yearly certificates.",
            )
        if self.posture not in POSTURES:
            bad(
                "POSTURE_INVALID",
                f"posture must be one of {', '.join(POSTURES)}, got {self.posture!r}.",
                "default records posture findings as warnings; strict makes them fail the proof.",
            )
        if self.retire_old not in RETIRE_CHOICES:
            bad(
                "RETIRE_OLD_INVALID",
                f"retire_old must be one of {', '.join(RETIRE_CHOICES)}, got {self.retire_old!r}.",
                "after-expiry keeps the old certificate (rollback stays possible); remove deletes it after the proof.",
            )
        if not _INSTANCE.fullmatch(self.instance) or ".." in self.instance:
            bad(
                "INSTANCE_INVALID",
                f"instance must be an Octopus instance name (letters, digits, space, . - _; at most 64), "
                f"got {self.instance[:80]!r}.",
                "Use the name Octopus Manager shows, e.g. OctopusServer.",
            )
        for name in PATH_PARAMETERS:
            value = getattr(self, name)
            if any(ord(c) < 32 or ord(c) == 127 for c in value):
                bad(
                    "PATH_INVALID",
                    f"{name} holds a control character (a new line, a tab or NUL).",
                    f"Check {name}: a pasted path may have brought a line break with it.",
                )
        if not env_name_ok(self.pfx_password_env):
            bad(
                "PASSWORD_ENV_INVALID",
                f"pfx_password_env must be an environment variable *name*; the value given "
                f"({len(self.pfx_password_env)} characters) is not one, and is not shown.",
                "Put the password in an environment variable and give its name, e.g. OCTORUNBOOK_PFX_PASSWORD.",
            )
        if self.notify_env and not env_name_ok(self.notify_env):
            bad(
                "NOTIFY_ENV_INVALID",
                f"notify_env must be an environment variable *name*; the value given "
                f"({len(self.notify_env)} characters) is not one, and is not shown (an Apprise URL carries a token).",
                "Put the Apprise URLs in an environment variable and give its name, e.g. OCTORUNBOOK_NOTIFY_URLS.",
            )
        elif self.notify_env and not os.environ.get(self.notify_env, "").strip():
            state = "empty" if self.notify_env in os.environ else "not set"
            problems.append(
                Finding(
                    "NOTIFY_ENV_EMPTY",
                    "warning",
                    f"notify_env names ${self.notify_env}, which is {state} here: a failure would tell nobody.",
                    f"Set {self.notify_env} to the Apprise URLs in the environment this runs in (the "
                    "schedule's too), or remove notify_env.",
                )
            )
        if not self.keep_http and self.force_ssl:
            problems.append(
                Finding(
                    "FORCE_SSL_WITHOUT_HTTP",
                    "warning",
                    "force_ssl redirects HTTP to HTTPS, but keep_http: False removes HTTP.",
                    "Keep HTTP (keep_http: True) if you want the redirect.",
                )
            )
        if self.certificate_source == "pfx":
            problems += _file_check("pfx_path", self.pfx_path)
        if self.certificate_source == "pem":
            problems += _file_check("pem_cert_path", self.pem_cert_path)
            problems += _file_check("pem_key_path", self.pem_key_path)
        if self.certificate_source == "store" and not self.thumbprint.strip():
            bad(
                "THUMBPRINT_REQUIRED",
                "certificate_source is 'store' but no thumbprint was given.",
                "Set thumbprint to the certificate's thumbprint as MMC or Get-ChildItem Cert:\\LocalMachine\\My shows it.",
            )
        if self.certificate_source == "acme":
            problems += self._acme_check()
        for name in self.dns_names[1:]:
            if "%" in name or not hostname_ok(name, wildcard=True):
                bad(
                    "HOSTNAME_INVALID",
                    f"extra_dns_names entry {name!r} is not a valid DNS name.",
                    "Fix or remove it.",
                )
        return problems

    @property
    def front_kind(self) -> str:
        """Which TLS front this run drives: nginx for ``target: nginx``, else the ``front`` parameter
        (the sandbox's topology; Windows is always HTTP.sys)."""
        if self.target == "nginx":
            return "nginx"
        return self.front if self.target == "sandbox" else "httpsys"

    def _front_check(self) -> list[Finding]:
        return front_problems(self)

    @property
    def acme_directory_url(self) -> str:
        """``acme_directory`` with the ``staging`` shorthand spelled out."""
        return (
            LETS_ENCRYPT_STAGING if self.acme_directory.strip().lower() == "staging" else self.acme_directory
        )

    def _acme_check(self) -> list[Finding]:
        return acme_problems(self)


def _file_check(name: str, value: str) -> list[Finding]:
    if not value:
        return [
            Finding(
                f"{name.upper()}_REQUIRED", "error", f"{name} is empty.", f"Set {name} to the file's path."
            )
        ]
    from octorunbook.files import (
        file_problem,  # the bounded reader's own rules: the same codes, found up front
    )

    problem = file_problem(value, what=name)
    if problem is None:
        return []
    remedy = problem.remedy
    if problem.code == "FILE_NOT_FOUND":
        remedy = f"Check the path (relative paths are relative to {os.getcwd()})."
    return [Finding(problem.code, "error", problem.message, remedy)]


def refuse_secrets(values: Mapping[str, Any]) -> None:
    """A parameter that looks like a secret is refused: papermill would write it into the notebook."""
    for name in values:
        if isinstance(name, str) and not name.startswith("_") and looks_like_secret_name(name):
            raise ParameterError(
                "PARAMETER_LOOKS_SECRET",
                f"Parameter {name!r} looks like a secret. Secrets are never accepted as parameters: papermill "
                "writes parameters into the executed notebook.",
                "Put the PFX password in an environment variable and pass its name as pfx_password_env.",
            )
