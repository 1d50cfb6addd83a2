"""``octorunbook doctor``: a read-only field check of a target, for the first real server.

It runs every read-only probe the runbooks rely on -- host facts, do the stores My and WebHosting
exist, the certificates in them, the HTTP.sys binding on the HTTPS port, the bound certificate and a
signature with its key, the Octopus web portal configuration -- prints what it found, and writes a JSON
report an operator can attach to an issue.

Why it is safe on a production server: every command goes through a runner that refuses a command
marked as changing anything (``DOCTOR_REFUSED_CHANGE``); a failing probe is recorded and the next one
runs. Why the report can be attached: the computer name, the user, certificate subjects, issuers and DNS
names and listen-prefix host names are replaced by stable tokens (``<host-1>``), and every registered
secret is masked, before anything is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from octorunbook.commands import CommandResult, CommandRunner
from octorunbook.findings import OctorunbookError
from octorunbook.redaction import SECRETS
from octorunbook.targets.protocols import CertificateStore, Proof

STORES = ("My", "WebHosting")


class ReadOnlyRunner(CommandRunner):
    """A command runner that refuses any command marked as changing something."""

    def run(self, argv: Sequence[str], *, mutating: bool = False, **kwargs: Any) -> CommandResult:
        if mutating:
            raise OctorunbookError(
                "DOCTOR_REFUSED_CHANGE",
                f"doctor refused to run a command that changes the host: {' '.join(map(str, argv))}",
                "This is a bug in octorunbook doctor; report it. Nothing was changed.",
            )
        return super().run(argv, mutating=False, **kwargs)


@dataclass
class Check:
    name: str
    ok: bool
    seen: Any = None
    code: str = ""
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "ok": self.ok, "seen": self.seen}
        if self.code:
            data.update(code=self.code, message=self.message)
        return data


@dataclass
class Doctor:
    runner: CommandRunner
    checks: list[Check] = field(default_factory=list)

    def probe(self, name: str, action: Callable[[], Any]) -> Any:
        """Run one read-only probe; an expected failure is recorded, never raised."""
        try:
            seen = action()
        except OctorunbookError as exc:
            self.checks.append(Check(name, False, None, exc.code, exc.message))
            return None
        self.checks.append(Check(name, True, _plain(seen)))
        return seen


def _store_exists(store: CertificateStore, name: str) -> bool:
    return store.sibling(name).exists()


def _proven(proofs: list[Proof]) -> list[Proof]:
    """The store's proofs, or the first that failed as its coded error (a probe records it)."""
    failed = next((p for p in proofs if not p.ok), None)
    if failed is not None:
        raise OctorunbookError(failed.code or "KEY_NOT_USABLE", f"{failed.check}: {failed.seen}")
    return proofs


def _plain(value: Any) -> Any:
    if hasattr(value, "to_record"):
        return value.to_record()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    return value


def _windows_host_facts(runner: CommandRunner) -> dict[str, Any]:
    from octorunbook.targets.windows.host import check_powershell_host
    from octorunbook.targets.windows.powershell import run_script

    data, result = run_script(runner, "host-info.ps1", label="doctor: host facts")
    check_powershell_host(data, result)
    return data


def examine(target_kind: str, runner: CommandRunner, *, instance: str, server_exe: str = "",
            sandbox_dir: Path | None = None, port: int = 443) -> dict[str, Any]:  # fmt: skip
    """Run every read-only probe against the target; the (unredacted) report."""
    doctor = Doctor(runner)
    if target_kind == "windows":
        from octorunbook.commands import netsh_exe
        from octorunbook.targets.httpsys import HttpSys, console_encoding
        from octorunbook.targets.localmachine import LocalMachineStore
        from octorunbook.targets.octopus import OctopusServer
        from octorunbook.targets.windows import WindowsCertificateStore, find_server_exe

        doctor.probe("host facts (host-info.ps1)", lambda: _windows_host_facts(runner))
        store: CertificateStore = LocalMachineStore(WindowsCertificateStore(runner), "My")
        httpsys = HttpSys(netsh_exe(), runner, encoding=console_encoding())
        exe = doctor.probe("Octopus.Server.exe", lambda: find_server_exe(server_exe, runner))
        octopus = OctopusServer(exe, instance, runner) if exe else None
    else:
        from octorunbook.targets.sandbox import Sandbox

        target = Sandbox(Path(sandbox_dir or ".")).open_target(instance, runner)
        doctor.probe("host facts", target.host_info)
        from octorunbook.targets.httpsys.front import HttpSysFront
        from octorunbook.targets.octopus.instance import OctopusServerInstance

        front, part = target.parts.front, target.parts.instance
        if not isinstance(front, HttpSysFront) or not isinstance(part, OctopusServerInstance):
            raise OctorunbookError(
                "RUNBOOK_NOT_FOR_FRONT",
                f"doctor examines an HTTP.sys host; this sandbox has the {front.kind} front.",
                "Use `octorunbook check` and `nginx -T` for the nginx front.",
            )
        store, httpsys, octopus = target.parts.store, front.httpsys, part.octopus
    for name in STORES:
        if doctor.probe(f"store {name} exists", partial(_store_exists, store, name)):
            doctor.probe(f"certificates with a key in {name}", store.sibling(name).certificates)
    binding = doctor.probe(f"HTTP.sys binding 0.0.0.0:{port}", lambda: httpsys.show(port))
    if binding is not None:
        bound_store = next((s for s in STORES if s.lower() == binding.store_name.lower()), binding.store_name)
        thumbprint = binding.certificate_hash
        doctor.probe("bound certificate", lambda: store.sibling(bound_store).get(thumbprint))
        doctor.probe(
            "bound certificate's key signs", lambda: _proven(store.sibling(bound_store).prove(thumbprint))
        )
    if octopus is not None:
        doctor.probe("Octopus web portal configuration", octopus.show_configuration)
    return {
        "target": target_kind,
        "instance": instance,
        "checks": [c.to_dict() for c in doctor.checks],
        "commands": [r.to_dict() for r in runner.records],
        "changed_anything": bool(runner.mutating_records),
    }


_SENSITIVE_KEYS = {
    "computer_name",
    "user",
    "account",
    "subject",
    "issuer",
    "host",
    "dns_names",
    "friendly_name",
}


def redact_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report with host, user and certificate names replaced by stable tokens, secrets masked."""
    found: dict[str, str] = {}

    def collect(value: Any, key: str = "") -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                collect(v, str(k))
        elif isinstance(value, list):
            for v in value:
                collect(v, key)
        elif isinstance(value, str) and value and (key in _SENSITIVE_KEYS):
            found.setdefault(value, f"<{key.replace('_', '-')}-{len(found) + 1}>")
        elif isinstance(value, str) and key == "listen_prefixes":
            host = re.sub(r"^\w+://([^:/]+).*$", r"\1", value)
            if host not in {"+", "*", "localhost"}:
                found.setdefault(host, f"<host-{len(found) + 1}>")

    collect(report)
    text = SECRETS.redact(json.dumps(report))
    for value in sorted(found, key=len, reverse=True):
        text = text.replace(json.dumps(value)[1:-1], found[value])
    result: dict[str, Any] = json.loads(text)
    result["redacted"] = "computer name, user, certificate names and portal host names are replaced by tokens"
    return result


__all__ = ["ReadOnlyRunner", "examine", "redact_report"]
