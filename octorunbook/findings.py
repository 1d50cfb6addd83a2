"""Findings and errors: every expected failure has a stable code, a message and a remedy.

Operators script against the codes, so a code never changes meaning once released.

Hierarchy::

    Exception
     └── OctorunbookError(code, message, remedy)   an expected outcome, never a traceback
          ├── InputError          bad parameters, unreadable files: nothing was changed
          ├── TargetError         the target host answered in a way we cannot go on from
          │    └── CommandError   an external command failed (argv recorded, redacted)
          └── VerificationError   the portal does not serve what it should

A ``Finding`` is the value an operator reads: ``code``, ``severity`` (``error`` blocks the step,
``warning`` is recorded and shown, ``info``), ``message`` in the operator's words and a ``remedy``.
An ``OctorunbookError`` carries one finding; steps collect findings and raise the first error.
"""

from __future__ import annotations

from collections.abc import Iterable

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any, Literal

    Severity = Literal["error", "warning", "info"]

SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
SYMBOLS: dict[str, str] = {"error": "✖", "warning": "⚠", "info": "✔"}
_FIELDS = ("code", "severity", "message", "remedy", "reason", "details")


class Finding:
    """One thing an operator should know: what was seen, why it matters, what to do.

    Immutable, compared and printed by its fields, as a frozen dataclass would be. Written out rather than
    made with ``@dataclass``: every process that raises an error imports this module, the sandbox's
    stand-in commands (one per command a rehearsal run makes) among them, and the dataclass machinery
    (``inspect``, ``ast``, ``dis``) was a fifth of what each of those starts imported.
    """

    __slots__ = _FIELDS
    __match_args__ = ("code", "severity", "message", "remedy", "reason", "details")

    code: str
    severity: Severity
    message: str
    remedy: str
    reason: str
    details: dict[str, Any]

    def __init__(
        self,
        code: str,
        severity: Severity,
        message: str,
        remedy: str = "",
        reason: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        if not code or not code.replace("_", "").isalnum() or code.upper() != code:
            raise ValueError(f"finding code must be UPPER_SNAKE, got {code!r}")
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
        setter = object.__setattr__
        setter(self, "code", code)
        setter(self, "severity", severity)
        setter(self, "message", message)
        setter(self, "remedy", remedy)
        setter(self, "reason", reason)
        setter(self, "details", {} if details is None else details)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: a Finding is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: a Finding is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Finding) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"Finding({fields})"

    def __reduce__(self) -> tuple[Any, ...]:  # copy, deepcopy and pickle rebuild it through __init__
        return (self.__class__, self._values())

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.severity]

    def to_dict(self) -> dict[str, Any]:
        import copy  # here: most processes that import this module never write a finding out

        data = {name: copy.deepcopy(getattr(self, name)) for name in _FIELDS}
        if not data["details"]:
            del data["details"]
        if not data["reason"]:
            del data["reason"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            code=str(data["code"]),
            severity=data.get("severity", "error"),
            message=str(data.get("message", "")),
            remedy=str(data.get("remedy", "")),
            reason=str(data.get("reason", "")),
            details=dict(data.get("details") or {}),
        )


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


class OctorunbookError(Exception):
    """An expected failure: a stable code, a message, a remedy. Shown to operators, never as a traceback."""

    def __init__(
        self,
        code: str,
        message: str,
        remedy: str = "",
        *,
        reason: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.finding = Finding(code, "error", message, remedy, reason, dict(details or {}))

    @property
    def code(self) -> str:
        return self.finding.code

    @property
    def message(self) -> str:
        return self.finding.message

    @property
    def remedy(self) -> str:
        return self.finding.remedy

    @classmethod
    def from_finding(cls, finding: Finding) -> OctorunbookError:
        return cls(
            finding.code, finding.message, finding.remedy, reason=finding.reason, details=finding.details
        )

    def __str__(self) -> str:
        text = f"{self.code}: {self.message}"
        if self.remedy:
            text += f" Remedy: {self.remedy}"
        return text


class InputError(OctorunbookError):
    """The operator's input cannot be used. Nothing was changed."""


class TargetError(OctorunbookError):
    """The target host is not in a state we can go on from."""


class CommandError(TargetError):
    """An external command failed; its redacted argv and exit code are in ``details``."""


class VerificationError(OctorunbookError):
    """The portal does not serve what the change should have made it serve."""


# Why each runbook/target code matters, recorded as a finding's ``reason`` when the finding has none.
# (Certificate codes explain themselves in ``certificates.CODES``; the run record looks in both, so this
# module imports nothing of ours.)
REASONS: dict[str, str] = {
    "NOTIFY_ENV_INVALID": "the Apprise URLs carry tokens: only the name of the variable holding them may be a "
    "parameter",
    "RENEWAL_RULE": "a fixed 30 days is too late for a 45-day certificate and impossible for a 6-day one",
    "NOTIFY_FAILED": "a failure nobody hears about is how certificates lapse",
    "TARGET_BUSY": "two runs changing one Octopus instance at once would each restore the other's half-done state",
    "STALE_LOCK_REMOVED": "a run that was killed may have left the target between its old and new state",
    "PORT_IN_USE": "HTTP.sys binds one certificate per IP:port; binding Octopus would take HTTPS away from the holder",
    "STORE_MISSING": "Octopus binds only from LocalMachine\\My or \\WebHosting, and WebHosting exists only with IIS",
    "NOT_ELEVATED": "LocalMachine stores and HTTP.sys bindings can only be changed by an Administrator",
    "INSTANCE_NOT_FOUND": "every Octopus.Server command acts on one named instance",
    "KEY_NOT_USABLE_BY_HTTPSYS": "HTTP.sys performs the TLS handshake with the private key; without a usable key "
    "it cannot serve the certificate",
    "KEY_NOT_ACCESSIBLE": "HasPrivateKey only says a key is referenced; the key itself must open for TLS to work",
    "SERVED_WRONG_CERTIFICATE": "browsers see the certificate HTTP.sys serves, whatever the configuration says",
    "SERVED_NOT_FOR_HOSTNAME": "a certificate that does not name the portal's hostname is rejected by every "
    "browser, however long it has left",
    "PORTAL_NOT_ANSWERING": "a portal that does not answer after the restart locks everyone out of Octopus",
    "API_NOT_OCTOPUS": "the prefix answers, but not with Octopus: another application owns it",
    "NO_REDIRECT": "ForceSSL exists so that nobody keeps using the portal over plain HTTP",
    "HTTP_STILL_ANSWERS": "keep_http: False asked for plain HTTP to be switched off",
    "HSTS_MISSING": "without the header browsers keep allowing plain HTTP",
    "THUMBPRINT_REQUIRED": "02 and 03 act on one specific certificate",
    "THUMBPRINT_FROM_LAST_IMPORT": "02 and 03 act on the certificate 01 imported unless told otherwise",
    "CERT_NOT_FOUND": "only a certificate in the chosen LocalMachine store can be bound",
    "CERT_IN_OTHER_STORE": "ssl-certificate names the store; a certificate in the other store is not found",
    "CONFIGURE_FAILED": "the listen prefixes, ForceSSL and HSTS could not be saved",
    "SSL_CERTIFICATE_FAILED": "the HTTP.sys binding could not be created",
    "SERVICE_START_FAILED": "the Octopus service must run for the portal to answer",
    "ROLLBACK_INCOMPLETE": "the target may be left between its old and new state",
    "ROLLBACK_SKIPPED": "rollback: False leaves a failed change in place",
    "PARAMETER_LOOKS_SECRET": "papermill writes every parameter into the executed notebook",
    "BINDING_SETTINGS_UNKNOWN": "a rebind keeps only the settings it is given; one that cannot be read would be "
    "silently dropped (disablelegacytls, client-certificate checks)",
    "BINDING_NOT_AS_ASKED": "netsh's exit code does not prove the binding: only reading it back does",
    "RENDER_UNSAFE": "a value another program reads as syntax (a line break, a quote, a %) would add a directive "
    "or an argument nobody asked for",
    "INTERNAL_ERROR": "octorunbook met a state it does not handle; the record shows what was done before",
}


# What to do about a code, for the codes whose remedy is not written where they are raised: a remedy built
# at run time (a command's output, a script's answer) or a check's code an evidence table carries. The
# codes reference page is generated from this table too, so every error and warning there has a remedy.
REMEDIES: dict[str, str] = {
    "ACME_ARI_WINDOW_OPEN": "Let the scheduled renewal (04) run in the CA's window, or run 04 now.",
    "ACME_ARI_WINDOW_PASSED": "Run 04 now: the CA wants the certificate replaced and may revoke it soon.",
    "CERTIFICATE_READ_FAILED": "Read the PowerShell message in the record's details; run the terminal as "
    "Administrator and check the store name.",
    "CHECK_URL_INVALID": "Give the portal's address as https://HOST[:PORT].",
    "CONFIGURE_FAILED": "Read Octopus.Server's output in the record's details, fix what it names, run 03 again.",
    "HOST_PROBE_FAILED": "Run the terminal as Administrator in Windows PowerShell 5.1 or PowerShell 7 and read "
    "the script's message in the record's details.",
    "HTTP_NOT_ANSWERING": "Check that the Octopus service runs and that keep_http's prefix is in its listen "
    "prefixes (`Octopus.Server show-configuration`).",
    "KEY_NOT_USABLE_BY_HTTPSYS": "Re-import the PFX into LocalMachine with its private key in a provider HTTP.sys "
    "can use (01 does), then run 02 and 03 again.",
    "KEY_TEST_FAILED": "Read the script's message in the record's details; run as Administrator and check that "
    "the certificate's key is in LocalMachine.",
    "LIST_INSTANCES_FAILED": "Check server_exe and run the terminal as Administrator: "
    "`Octopus.Server list-instances` must answer.",
    "NETWORK_TIMEOUT": "Check that the endpoint answers promptly, or give a longer timeout.",
    "NGINX_DIRECTIVE_INVALID": "Give each extra directive as one line that ends with `;`, without braces or "
    "line breaks.",
    "NGINX_START_FAILED": "Read nginx's message and its error log (a port in use, a missing path), fix it and "
    "run again.",
    "NOTIFY_FAILED": "Check the Apprise URLs in the variable notify_env names (`apprise -vv URL` sends a test).",
    "NOTIFY_LEDGER_BUSY": "Nothing to do: the next check sends what this one could not.",
    "NOTIFY_LEDGER_UNTRUSTED": "Give the state folder back to the user running the checks (mode 0700); the "
    "quarantined ledger can be deleted.",
    "NOT_LOCAL_MACHINE": "Import the certificate into LocalMachine (01 does), not CurrentUser.",
    "PARAMETER_UNKNOWN": "Check the name's spelling against the parameters reference; remove a name no "
    "runbook reads.",
    "REDIRECT_REFUSED": "Give the server's own address (the one the redirect points to, if you trust it).",
    "REMOVE_FAILED": "Remove the certificate by hand (certlm.msc) as Administrator, then run again.",
    "RENDER_UNSAFE": "Remove line breaks, quotes and % from the value named in the message.",
    "RENEWALS_STOPPED": "Read the last 04 record (`octorunbook audit list AUDIT_DIR`), fix what failed and "
    "check that the schedule still runs (`octorunbook schedule`).",
    "ROLLBACK_INCOMPLETE": "Run the same runbook again: it restores the checkpoint the change kept before it "
    "plans anything new (the record lists the commands to restore by hand); then prove the portal with 02.",
    "ROLLBACK_SKIPPED": "Inspect the target, then run the runbook again with rollback: True: it restores the "
    "checkpoint first.",
    "ROLLBACK_UNVERIFIED": "Check the binding and the portal by hand (`netsh http show sslcert`), then run the "
    "runbook again: the checkpoint is kept until a restore is proven.",
    "SCHANNEL_READ_FAILED": "Run the terminal as Administrator; read the script's message in the record's "
    "details.",
    "SCHANNEL_SET_FAILED": "Run the terminal as Administrator; read the script's message, then run 05 again "
    "(it restores what it changed first).",
    "SCHEDULE_FAILED": "Run the terminal as Administrator; read the Task Scheduler message in the record's "
    "details.",
    "SERVED_NOT_BOUND": "Restart the front (the Octopus service, or reload nginx) and run 02, then 04 again.",
    "SERVER_EXE_NOT_FOUND": "Set server_exe to the full path of Octopus.Server.exe.",
    "SERVICE_RESTART_FAILED": "Read the service's message in the record's details and the Windows event log; "
    "start the service by hand, then run 02.",
    "SHOW_CONFIGURATION_FAILED": "Check server_exe and instance, and run the terminal as Administrator.",
    "SSL_CERTIFICATE_FAILED": "Read Octopus.Server's output in the record's details (a port in use, a key HTTP.sys "
    "cannot use), fix it, run 03 again.",
    "STATE_DIR_UNSAFE": "Give the state folder and each folder above it to the user running octorunbook, "
    "writable by nobody else.",
    "STORE_CHECK_FAILED": "Run the terminal as Administrator and check the store name (My or WebHosting).",
    "TLS_TOO_OLD": "Enable TLS 1.2 and 1.3 (05 hardens the server's SCHANNEL settings).",
    "VERIFY_FAILED": "Read the failed check in the evidence, re-import with 01 if it names the certificate, "
    "then run 02 again.",
}


def remedy_for(code: str) -> str:
    """What to do about ``code`` where the finding says nothing itself."""
    return REMEDIES.get(code, "")
