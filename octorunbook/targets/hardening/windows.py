"""Hardening TLS on Windows: per binding (Server 2019+) first, else SCHANNEL machine-wide.

Two ways, in this order of preference:

1. **Per binding** (Windows Server 2019, build 17763, with KB4490481 and later): HTTP.sys's "Disable Legacy
   TLS" flag on the portal's own ``sslcert`` binding -- ``netsh http update sslcert ... disablelegacytls=enable``
   -- "enforces a TLS version and cipher suite floor" on that one certificate binding only; no reboot, and
   nothing else on the machine (Tentacle communications, IIS sites, outbound clients) is touched. Source:
   Microsoft, "TLS version enforcement capabilities now available per certificate binding on Windows Server
   2019" (learn.microsoft.com/security/engineering/disable-legacy-tls) and ``netsh http add|update sslcert``
   syntax (``disablelegacytls=enable|disable``; MicrosoftDocs windowsserverdocs, netsh-http). We *update*
   the existing binding with its own certhash/appid/store: ``add`` on an endpoint that is bound fails with
   183, and a delete-then-add would leave a moment without a binding.
2. **SCHANNEL registry** (any Windows): ``HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\
   SCHANNEL\\Protocols\\TLS 1.0|TLS 1.1\\Server`` ``Enabled=0`` and ``DisabledByDefault=1`` (Microsoft,
   "Transport Layer Security (TLS) registry settings"; ``Enabled=0`` is what stops a protocol being
   negotiated, ``DisabledByDefault`` only stops it being used unless asked for), and the SSL Cipher Suite
   Order policy ``HKLM\\SOFTWARE\\Policies\\Microsoft\\Cryptography\\Configuration\\SSL\\00010002`` value
   ``Functions`` (the comma-separated list gpedit's "SSL Cipher Suite Order" writes; Microsoft, "Prioritizing
   Schannel Cipher Suites": limited to 1023 characters, and "it is necessary to restart the computer after
   modifying this setting"). SCHANNEL reads the protocol values at start too: **a reboot is needed**, and
   the change is machine-wide. Only the ``Server`` keys are changed: this machine's outbound clients keep
   their settings.

The registry is read and written through the shipped scripts ``read-schannel.ps1`` and ``set-schannel.ps1``
(the PowerShell seam); ``set-schannel.ps1`` exports the previous values before it changes anything, and
rollback is the same script applied to that export. The plan the script reads and the export are plain JSON
in the target's state home (``<state>/schannel/``, a checked 0700 folder; each file 0600, written without
following a link: :meth:`~octorunbook.targets.state.StateHome.write_private`), and the export is read back
and checked against what the script reported before a rollback applies it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from octorunbook.commands import CommandRunner, netsh_exe
from octorunbook.findings import TargetError
from octorunbook.targets.base import SslBinding
from octorunbook.targets.hardening.plan import HardeningPlan, RegistryChange, RegistryValue
from octorunbook.targets.state import StateHome, untrusted
from octorunbook.targets.windows.powershell import run_script, script_details, script_failure

PROTOCOLS_KEY = r"HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols"
CIPHER_ORDER_KEY = r"HKLM:\SOFTWARE\Policies\Microsoft\Cryptography\Configuration\SSL\00010002"
# The local CNG configuration of the SSL context's Schannel interface (NCRYPT_SCHANNEL_INTERFACE 0x00010002):
# where Enable-TlsCipherSuite / Disable-TlsCipherSuite keep their list. Read, never written (the path is an
# inference, docs/windows-facts.md S1).
LOCAL_CIPHER_ORDER_KEY = (
    r"HKLM:\SYSTEM\CurrentControlSet\Control\Cryptography\Configuration\Local\SSL\00010002"
)
DOTNET_KEYS = (
    r"HKLM:\SOFTWARE\Microsoft\.NETFramework\v4.0.30319",
    r"HKLM:\SOFTWARE\Wow6432Node\Microsoft\.NETFramework\v4.0.30319",
)
SCHANNEL_FOLDER = "schannel"  # in the target's state home: the plans set-schannel.ps1 reads, the exports
MAX_PLAN_FILE = 64 * 1024  # a plan holds a few registry values
DISABLE_LEGACY_TLS_MIN_BUILD = 17763  # Windows Server 2019
TLS13_MIN_BUILD = 20348  # Windows Server 2022: the first server SCHANNEL with TLS 1.3

# ECDHE with AES-GCM only, strongest first (SCHANNEL names). The TLS 1.3 suites lead where SCHANNEL has them.
STRONG_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
)
TLS13_SUITES = ("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256")

SCHANNEL_MAY_BREAK = (
    "Tentacles on old Windows (Server 2008 R2 / 2012 without TLS 1.2 enabled): this server's Tentacle and "
    "polling ports also go through SCHANNEL, so a machine-wide change reaches them too.",
    "Windows PowerShell 5.1 and .NET Framework clients without SchUseStrongCrypto=1 (scripts calling the "
    "Octopus API with Invoke-RestMethod, octo.exe / Octopus.Client on .NET 4.5-4.6, build-server plugins): "
    "they offer only TLS 1.0 unless told otherwise.",
    "Browsers and tools on Windows 7 / Server 2008 R2 without the TLS 1.1/1.2 update (KB3140245).",
    "Anything else on this machine that serves TLS through SCHANNEL (IIS sites, RDP, SQL Server, WinRM over HTTPS).",
)
PER_BINDING_MAY_BREAK = (
    "Windows PowerShell 5.1 and .NET Framework clients without SchUseStrongCrypto=1 calling the Octopus API "
    "(they offer only TLS 1.0); Tentacle communications are not affected (another port, another binding).",
    "Browsers and tools on Windows 7 / Server 2008 R2 without the TLS 1.1/1.2 update (KB3140245).",
)


@dataclass(frozen=True)
class SchannelState:
    """What ``read-schannel.ps1`` read: the Windows build and each value (None: not set, Windows default)."""

    windows_build: int
    values: tuple[RegistryValue, ...]

    def get(self, path: str, name: str) -> RegistryValue | None:
        return next((v for v in self.values if v.path.lower() == path.lower() and v.name == name), None)

    def to_record(self) -> dict[str, Any]:
        return {"windows_build": self.windows_build, "values": [v.to_record() for v in self.values]}


def parse_schannel(data: Mapping[str, Any]) -> SchannelState:
    """The script's JSON as a typed value; a shape we do not know is a TargetError, never a guess."""
    try:
        build = int(data["windows_build"])
        values = tuple(
            RegistryValue(str(v["path"]), str(v["name"]), str(v.get("type") or ""), _value(v.get("value")))
            for v in data["values"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise TargetError(
            "SCHANNEL_UNREADABLE",
            f"read-schannel.ps1 answered in a shape octorunbook does not know ({exc!r}).",
            "Run the script by hand in an elevated PowerShell and read its output.",
        ) from None
    return SchannelState(build, values)


def _value(raw: Any) -> int | str | None:
    if raw is None or isinstance(raw, (int, str)):
        return raw
    raise ValueError(f"unexpected registry value {raw!r}")


def read_schannel(runner: CommandRunner) -> SchannelState:
    data, result = run_script(runner, "read-schannel.ps1", label="read SCHANNEL settings")
    if data.get("status") != "ok":
        raise script_failure(data, result, "read-schannel.ps1", "SCHANNEL_READ_FAILED")
    return parse_schannel(data)


def cipher_order(windows_build: int) -> str:
    """The SSL Cipher Suite Order 05 writes when asked: ECDHE with AES-GCM, the TLS 1.3 suites first where
    SCHANNEL has them."""
    return ",".join((TLS13_SUITES if windows_build >= TLS13_MIN_BUILD else ()) + STRONG_SUITES)


def desired_schannel(windows_build: int, *, order: bool = False) -> tuple[RegistryValue, ...]:
    """The exact values a hardened SCHANNEL has: the *server* protocol keys only, and the machine-wide cipher
    suite order only when the operator asked for it (``schannel_cipher_order``)."""
    values = [
        RegistryValue(rf"{PROTOCOLS_KEY}\{protocol}\Server", name, "DWord", value)
        for protocol in ("TLS 1.0", "TLS 1.1")
        for name, value in (("Enabled", 0), ("DisabledByDefault", 1))
    ]
    if order:
        values.append(RegistryValue(CIPHER_ORDER_KEY, "Functions", "String", cipher_order(windows_build)))
    return tuple(values)


CIPHER_ORDER_OUTBOUND = (
    "The SSL Cipher Suite Order is not a server setting: Schannel applies it to EVERY handshake on this machine, "
    "outbound included — Octopus to SQL Server, to Tentacles, to package feeds, SMTP and LDAPS. A peer that "
    "offers none of these suites can no longer be reached."
)


def _require_order_unmanaged(state: SchannelState) -> None:
    """A cipher order someone already set — a domain GPO or IIS Crypto (the policy value), or
    ``Enable-TlsCipherSuite`` / ``Disable-TlsCipherSuite`` (the local CNG list) — is shown and never replaced:
    ``SCHANNEL_CIPHER_ORDER_MANAGED``. A list equal to the one 05 would write is no conflict."""
    mine = cipher_order(state.windows_build)
    for key, where in (
        (CIPHER_ORDER_KEY, "a policy (GPO, IIS Crypto) or an administrator"),
        (LOCAL_CIPHER_ORDER_KEY, "Enable-TlsCipherSuite / Disable-TlsCipherSuite (the local CNG list)"),
    ):
        have = state.get(key, "Functions")
        if have is None or have.value in (None, "") or have.value == mine:
            continue
        raise TargetError(
            "SCHANNEL_CIPHER_ORDER_MANAGED",
            f"A cipher suite order is already set ({key}\\Functions = {str(have.value)[:300]}); "
            f"05 does not replace a list {where} set.",
            "Change the order where it is managed (the GPO 'SSL Cipher Suite Order', IIS Crypto, "
            "Enable-TlsCipherSuite / Disable-TlsCipherSuite), or run 05 with schannel_cipher_order: false to "
            "harden the protocols only.",
            details={"functions": str(have.value), "key": key},
        )


def plan_schannel(state: SchannelState, *, order: bool = False) -> HardeningPlan:
    """Current → desired for every value that differs; TLS 1.2 is re-enabled only where it was switched off.

    ``order`` (the operator's ``schannel_cipher_order``) adds the machine-wide cipher suite order — refused
    when one is already set — with its outbound impact in the plan; without it the order is left alone."""
    if order:
        _require_order_unmanaged(state)
    changes: list[RegistryChange] = []
    for want in desired_schannel(state.windows_build, order=order):
        have = state.get(want.path, want.name)
        before = have.value if have else None
        if before != want.value:
            changes.append(RegistryChange(want.path, want.name, want.kind, before, want.value))
    tls12 = rf"{PROTOCOLS_KEY}\TLS 1.2\Server"
    for name, off, on in (("Enabled", 0, 1), ("DisabledByDefault", 1, 0)):
        have = state.get(tls12, name)
        if have is not None and have.value == off:  # switching 1.0/1.1 off must not leave no protocol at all
            changes.append(RegistryChange(tls12, name, "DWord", off, on))
    notes = [
        "A reboot is needed before SCHANNEL uses the new values; until then the scan still shows the old posture.",
        "The change is machine-wide: every SCHANNEL server on this machine is affected, not only the portal.",
    ]
    if order:
        notes += [
            CIPHER_ORDER_OUTBOUND,
            "If a domain Group Policy sets 'SSL Cipher Suite Order' later, it overwrites this value at the next "
            "policy refresh: manage it in that GPO instead.",
        ]
    else:
        notes.append(
            "The SSL Cipher Suite Order is left as it is (schannel_cipher_order: false): it would change outbound "
            "TLS too. Only the server-side protocol keys change."
        )
    clients = _strong_crypto_notes(state)
    return HardeningPlan(
        strategy="schannel",
        changes=tuple(changes),
        commands=(),
        rollback_commands=(),
        reboot_required=bool(changes),
        notes=tuple(notes + clients),
        may_break=SCHANNEL_MAY_BREAK,
    )


def _strong_crypto_notes(state: SchannelState) -> list[str]:
    missing = [p for p in DOTNET_KEYS if (v := state.get(p, "SchUseStrongCrypto")) is None or v.value != 1]
    if not missing:
        return []
    return [
        "SchUseStrongCrypto is not 1 under " + " and ".join(missing) + ": .NET Framework clients on this "
        "machine (Windows PowerShell 5.1 included) would offer only TLS 1.0 and could no longer reach the portal."
    ]


def plan_disable_legacy_tls(binding: SslBinding, netsh: str | None = None) -> HardeningPlan:
    """The per-binding way: the same binding, updated with ``disablelegacytls=enable``."""
    exe = netsh or netsh_exe()
    base = (
        exe,
        "http",
        "update",
        "sslcert",
        f"ipport={binding.ip_port}",
        f"certhash={binding.certificate_hash}",
        f"appid={binding.application_id}",
        f"certstorename={binding.store_name}",
    )
    return HardeningPlan(
        strategy="per-binding",
        changes=(),
        commands=((*base, "disablelegacytls=enable"),),
        rollback_commands=((*base, "disablelegacytls=disable"),),
        reboot_required=False,
        notes=(
            f"Only the binding {binding.ip_port} changes; HTTP.sys applies it to new connections, no reboot.",
            "A later delete-and-add of this binding (certificate renewal) drops the flag unless it is re-applied.",
        ),
        may_break=PER_BINDING_MAY_BREAK,
    )


def plan_windows(state: SchannelState, binding: SslBinding | None) -> HardeningPlan:
    """Per binding where Windows has it (build ≥ 17763) and the portal has a binding; else SCHANNEL."""
    if binding is not None and state.windows_build >= DISABLE_LEGACY_TLS_MIN_BUILD:
        return plan_disable_legacy_tls(binding)
    return plan_schannel(state)


@dataclass(frozen=True)
class SchannelApplied:
    applied: int
    backup_path: Path
    previous: tuple[RegistryValue, ...]

    def to_record(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "backup_path": str(self.backup_path),
            "previous": [v.to_record() for v in self.previous],
        }


def _write_plan(home: StateHome, path: Path, values: Sequence[RegistryValue]) -> None:
    document = {
        "changes": [{"path": v.path, "name": v.name, "type": v.kind, "value": v.value} for v in values]
    }
    home.write_private(path.parent, path.name, json.dumps(document, indent=2).encode("utf-8"))


def _managed(value: RegistryValue) -> bool:
    """A value octorunbook changes (what a plan or an export may name; a file naming another is refused)."""
    protocols = {rf"{PROTOCOLS_KEY}\{p}\Server".lower() for p in ("TLS 1.0", "TLS 1.1", "TLS 1.2")}
    return (value.path.lower() in protocols and value.name in {"Enabled", "DisabledByDefault"}) or (
        value.path.lower() == CIPHER_ORDER_KEY.lower() and value.name == "Functions"
    )


def _canonical(values: Sequence[RegistryValue]) -> list[str]:
    return sorted(json.dumps(v.to_record(), sort_keys=True) for v in values)


def read_backup(home: StateHome, applied: SchannelApplied) -> Path:
    """The export of ``applied``, read back from the state home and checked before a rollback applies it:
    ours and private (no link, no other owner or writer), JSON naming only values octorunbook changes, and
    exactly the values the script reported before its change. ``STATE_UNTRUSTED`` (quarantined) otherwise."""
    folder = home.folder(SCHANNEL_FOLDER)
    path = folder / applied.backup_path.name
    raw = home.read_private(folder, path.name, MAX_PLAN_FILE)
    if raw is None:
        raise TargetError(
            "SCHANNEL_BACKUP_MISSING",
            f"The export of the previous SCHANNEL values ({path}) is gone: the rollback has nothing to apply.",
            "Restore the values by hand from this run's record (schannel_backup.previous). Nothing was changed.",
            details={"backup": str(path)},
        )
    why = ""
    try:
        values = parse_schannel({"windows_build": 0, "values": json.loads(raw)["changes"]}).values
    except (TargetError, ValueError, KeyError, TypeError):
        why = "it is not a SCHANNEL plan"
    else:
        if not all(_managed(v) for v in values):
            why = "it names registry values octorunbook does not change"
        elif _canonical(values) != _canonical(applied.previous):
            why = "it no longer holds the values set-schannel.ps1 reported before its change"
    if why:
        raise untrusted(path, why, home.quarantine(path, why))
    return path


def _set(
    runner: CommandRunner, home: StateHome, plan_path: Path, backup_path: Path, label: str
) -> SchannelApplied:
    """Run set-schannel.ps1 on ``plan_path``; the values it found before changing anything replace our own
    reading in ``backup_path`` (also when it fails half-way: that file is the rollback plan)."""
    data, result = run_script(
        runner, "set-schannel.ps1", ["-PlanPath", str(plan_path)], label=label, mutating=True
    )
    previous: tuple[RegistryValue, ...] = ()
    if isinstance(data.get("previous"), list):
        previous = parse_schannel({"windows_build": 0, "values": data["previous"]}).values
        _write_plan(home, backup_path, previous)
    if data.get("status") == "not_elevated":
        raise TargetError(
            "NOT_ELEVATED",
            "Access is denied while changing SCHANNEL settings: the HKLM registry needs an elevated session. "
            f"The values found before the change are in {backup_path}.",
            "Start JupyterLab (or the terminal running papermill) with 'Run as administrator' and run again.",
            details=script_details(result, data),
        )
    if data.get("status") != "ok":
        raise script_failure(data, result, "set-schannel.ps1", "SCHANNEL_SET_FAILED")
    return SchannelApplied(int(data.get("applied") or 0), backup_path, previous)


def apply_schannel(runner: CommandRunner, plan: HardeningPlan, home: StateHome) -> SchannelApplied:
    """Write the plan's exact values. The previous values (as read for the plan) are exported to a backup file
    first, then replaced by what the script found at the moment of the change; plan and backup stay in the
    state home's ``schannel/`` folder as evidence and as the rollback input."""
    if plan.strategy != "schannel" or not plan.changes:
        raise ValueError("apply_schannel takes a SCHANNEL plan with changes")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = home.folder(SCHANNEL_FOLDER)
    plan_path = folder / f"schannel-plan-{stamp}.json"
    _write_plan(home, plan_path, [RegistryValue(c.path, c.name, c.kind, c.after) for c in plan.changes])
    backup_path = folder / f"schannel-backup-{stamp}.json"
    _write_plan(home, backup_path, [RegistryValue(c.path, c.name, c.kind, c.before) for c in plan.changes])
    return _set(runner, home, plan_path, backup_path, "harden SCHANNEL")


def rollback_schannel(runner: CommandRunner, applied: SchannelApplied, home: StateHome) -> SchannelApplied:
    """Restore exactly the exported previous values (a value that was absent is removed again), once the
    export read back is proven to be what the script reported (:func:`read_backup`)."""
    backup = read_backup(home, applied)
    undo = backup.with_name(backup.stem + "-undo.json")
    return _set(runner, home, backup, undo, "restore SCHANNEL (rollback)")
