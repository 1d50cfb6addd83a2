r"""``octorunbook doctor --field-test``: what the stand-ins cannot know, asked of the first real server.

There is no Windows server in the test rig; the stand-ins print what the reference says Windows prints,
and ``docs/windows-facts.md`` lists every fact still unconfirmed. This kit asks the host it runs on:

* **netsh's parameters**: ``netsh http add sslcert help`` (which binding settings this build knows),
  ``update sslcert help`` (does ``update`` exist), and whether an unknown parameter is refused
  (on ``show``: read-only);
* **the state folder**: owner and ACL of ``%ProgramData%\octorunbook`` (and every folder above);
* **the Octopus service**: its logon account (``sc qc``) and the URL reservations (``show urlacl``);
* **SCHANNEL**: the protocol values and whether an *SSL Cipher Suite Order* policy is set;
* with ``--sandbox-port N`` only: **a binding round-trip** on the unused port N — add with every
  setting this netsh lists (each away from its default), read back from netsh *and* the registry,
  ``update`` without the settings (are they kept?), delete, read back gone. Nothing else may change:
  the runner refuses any changing command that is not a ``sslcert`` command on ``0.0.0.0:N``.

One JSON report (redacted like ``doctor``'s) and a readable summary are written to attach to an issue.
It runs on Windows (``--target windows``) and on the sandbox (``--target sandbox``), whose stand-ins
answer every question so the kit itself is tested; ``--target windows`` elsewhere is
``FIELD_TEST_NOT_WINDOWS``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from octorunbook.commands import CommandResult, CommandRunner
from octorunbook.findings import InputError, OctorunbookError
from octorunbook.ops.doctor import Check, Doctor, ReadOnlyRunner
from octorunbook.targets.httpsys import SSLCERT_SETTINGS, HttpSys, sslcert_argv
from octorunbook.targets.octopus.urlacl import UrlAcls, needs_reservation, parse_reservations
from octorunbook.targets.protocols import CertificateStore
from octorunbook.targets.winsyntax import service_name

FIELD_TEST_APP_ID = "{5e1d7e57-0c70-4b5e-9a11-0c70b5e1d7e5}"  # marks the round-trip binding as ours
_FLIP = {"Enabled": "disable", "Disabled": "enable", "Not Set": "enable", "Set": "disable"}


def running_on_windows() -> bool:
    return os.name == "nt"


def require_windows(target_kind: str) -> None:
    if target_kind == "windows" and not running_on_windows():
        raise InputError(
            "FIELD_TEST_NOT_WINDOWS",
            "octorunbook doctor --field-test asks the Windows host it runs on (netsh, sc, the registry, "
            "ACLs): this is not a Windows host.",
            "Run it on the Octopus server (Windows Server 2016/2019/2022/2025) in an elevated terminal, or "
            "rehearse it here against a sandbox: `octorunbook doctor --field-test --target sandbox --dir DIR`.",
        )


class FieldRunner(ReadOnlyRunner):
    """Read-only, except the ``sslcert`` commands of the round-trip on ``0.0.0.0:<port>``."""

    def __init__(self, *, port: int | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.port = port

    def run(self, argv: Sequence[str], *, mutating: bool = False, **kwargs: Any) -> CommandResult:
        words = [str(a) for a in argv]
        allowed = (
            self.port is not None
            and words[1:2] == ["http"]
            and words[2:4] in (["add", "sslcert"], ["update", "sslcert"], ["delete", "sslcert"])
            and f"ipport=0.0.0.0:{self.port}" in words
        )
        if mutating and allowed:
            return CommandRunner.run(self, argv, mutating=True, **kwargs)
        return super().run(argv, mutating=mutating, **kwargs)


@dataclass
class Host:
    """What the field test asks, whichever host it is (Windows or the sandbox's stand-ins)."""

    httpsys: HttpSys
    url_acls: UrlAcls
    store: CertificateStore
    state_folder: Callable[[], dict[str, Any]]
    schannel: Callable[[], dict[str, Any]] | None


def _help(httpsys: HttpSys, verb: str) -> dict[str, Any]:
    result = httpsys.runner.run(
        [httpsys.exe, "http", verb, "sslcert", "help"], label=f"field test: {verb} sslcert help",
        encoding=httpsys.encoding,
    )  # fmt: skip
    names = sorted(set(re.findall(r"\b([a-z][a-z0-9]*)=", result.output.lower())))
    known = [p for _, p, _ in SSLCERT_SETTINGS]
    return {
        "exit_code": result.exit_code,
        "exists": "certhash" in names,
        "parameters": names,
        "settings_not_listed": [p for p in known if p not in names] if "certhash" in names else known,
    }


def _unknown_parameter(httpsys: HttpSys) -> dict[str, Any]:
    """Does netsh refuse a parameter it does not know? Asked of ``show`` (which changes nothing): the same
    query without and with a made-up parameter; a different exit code is a refusal."""
    base = [httpsys.exe, "http", "show", "sslcert", "ipport=0.0.0.0:1"]
    plain = httpsys.runner.run(base, label="field test: a known query", encoding=httpsys.encoding)
    probe = httpsys.runner.run(
        [*base, "octorunbookprobe=enable"],
        label="field test: an unknown parameter",
        encoding=httpsys.encoding,
    )
    return {"exit_code": probe.exit_code, "exit_code_without_it": plain.exit_code,
            "refused": probe.exit_code != plain.exit_code, "output_tail": probe.output[-300:]}  # fmt: skip


def _service(host: Host, instance: str) -> dict[str, Any]:
    account = host.url_acls.service_account(instance)
    if not account:
        raise OctorunbookError(
            "URLACL_ACCOUNT_UNKNOWN",
            f'sc qc "{service_name(instance)}" did not say the service\'s logon account.',
            "Check the instance name (--instance) and run elevated.",
        )
    return {
        "service": service_name(instance),
        "account": account,
        "needs_url_acl": needs_reservation(account),
    }


def _reservations(host: Host) -> dict[str, Any]:
    acls = host.url_acls
    result = acls.runner.run(
        [acls.netsh, "http", "show", "urlacl"], label="field test: URL reservations", encoding=acls.encoding
    )
    return {"exit_code": result.exit_code, "reservations": parse_reservations(result.stdout),
            "lines": len(result.stdout.splitlines())}  # fmt: skip


def _certificate(host: Host, port: int) -> str:
    binding = host.httpsys.show(port)
    if binding is not None:
        return binding.certificate_hash
    for stored in host.store.certificates():
        if stored.has_private_key:
            return stored.thumbprint
    raise OctorunbookError(
        "FIELD_TEST_NO_CERTIFICATE",
        f"No certificate to bind for the round-trip: nothing is bound on {port} and My has no certificate "
        "with a private key.",
        "Import one first (runbook 01, e.g. self-signed) or give --port the portal's HTTPS port.",
    )


def _ours(found: Any, thumbprint: str) -> bool:
    """The binding is the field test's own (its application ID and certificate): only that is deleted —
    another operator may bind the spare port between the check and the add."""
    return (
        found is not None
        and found.application_id.strip().lower() == FIELD_TEST_APP_ID.lower()
        and found.certificate_hash.strip().upper() == thumbprint.strip().upper()
    )


def _round_trip(host: Host, spare: int, port: int) -> dict[str, Any]:
    httpsys = host.httpsys
    endpoint = f"0.0.0.0:{spare}"
    if httpsys.show(spare) is not None:
        raise OctorunbookError(
            "FIELD_TEST_PORT_IN_USE",
            f"{endpoint} is bound already: the round-trip needs an unused port.",
            "Give --sandbox-port a port nothing binds (netsh http show sslcert).",
        )
    thumbprint = _certificate(host, port)
    listed = set(httpsys.add_parameters() or ())
    flags = {p: _FLIP[d] for _, p, d in SSLCERT_SETTINGS if d in _FLIP and p in listed}
    seen: dict[str, Any] = {"endpoint": endpoint, "asked": flags}
    run = httpsys.runner.run
    unknown = {"octorunbookprobe": "enable"}  # does add refuse a parameter it does not know, or bind anyway?
    probe = run(sslcert_argv(httpsys.exe, "add", endpoint, thumbprint, FIELD_TEST_APP_ID, "My", unknown),
                mutating=True, label="field test: add with an unknown parameter", encoding=httpsys.encoding)  # fmt: skip
    seen["unknown_parameter_on_add"] = {
        "exit_code": probe.exit_code,
        "bound": _ours(httpsys.show(spare), thumbprint),
    }
    if seen["unknown_parameter_on_add"]["bound"]:
        run([httpsys.exe, "http", "delete", "sslcert", f"ipport={endpoint}"], mutating=True,
            label="field test: delete", encoding=httpsys.encoding)  # fmt: skip
    added = run(sslcert_argv(httpsys.exe, "add", endpoint, thumbprint, FIELD_TEST_APP_ID, "My", flags),
                mutating=True, label="field test: add", encoding=httpsys.encoding)  # fmt: skip
    try:
        seen["add_exit_code"] = added.exit_code
        found = httpsys.show(spare)
        seen["added"] = _ours(found, thumbprint)
        if found is not None and seen["added"]:  # never update another's binding
            carried, unknown = httpsys.settings_of(found)
            seen.update(netsh_settings=carried, netsh_unknown=unknown, netsh_agrees=carried == flags)
            registry = httpsys.read_registry(endpoint)
            seen["registry_settings"] = dict(registry.settings) if registry else None
            seen["registry_agrees"] = registry is not None and dict(registry.settings) == flags
            updated = run(sslcert_argv(httpsys.exe, "update", endpoint, thumbprint, FIELD_TEST_APP_ID, "My", {}),
                          mutating=True, label="field test: update", encoding=httpsys.encoding)  # fmt: skip
            seen["update_exit_code"] = updated.exit_code
            after = httpsys.show(spare)
            kept = httpsys.settings_of(after)[0] if after is not None else None
            seen["update_keeps_unspecified_settings"] = kept == flags if after is not None else None
    finally:
        if _ours(httpsys.show(spare), thumbprint):
            run([httpsys.exe, "http", "delete", "sslcert", f"ipport={endpoint}"], mutating=True,
                label="field test: delete", encoding=httpsys.encoding)  # fmt: skip
        seen["deleted"] = not _ours(httpsys.show(spare), thumbprint)
    return seen


def field_test(host: Host, runner: CommandRunner, *, target_kind: str, instance: str, port: int,
               sandbox_port: int | None) -> dict[str, Any]:  # fmt: skip
    """Every check, each recorded (a failing one does not stop the next); the unredacted report."""
    doctor = Doctor(runner)
    doctor.probe("netsh http add sslcert help", lambda: _help(host.httpsys, "add"))
    doctor.probe("netsh http update sslcert (exists?)", lambda: _help(host.httpsys, "update"))
    doctor.probe("netsh: an unknown parameter", lambda: _unknown_parameter(host.httpsys))
    doctor.probe("state folder owner and ACL", host.state_folder)
    doctor.probe("Octopus service account", lambda: _service(host, instance))
    doctor.probe("URL reservations", lambda: _reservations(host))
    if host.schannel is not None:
        doctor.probe("SCHANNEL policy sources", host.schannel)
    else:
        doctor.checks.append(
            Check("SCHANNEL policy sources", True, {"applicable": False, "why": "not Windows"})
        )
    if sandbox_port is None:
        skipped = {"skipped": "read-only run: give --sandbox-port N to allow the round-trip on 0.0.0.0:N"}
        doctor.checks.append(Check("binding round-trip", True, skipped))
    else:
        doctor.probe(
            f"binding round-trip on 0.0.0.0:{sandbox_port}", lambda: _round_trip(host, sandbox_port, port)
        )
    mutating = [r.to_dict() for r in runner.records if r.mutating]
    return {
        "kind": "field-test",
        "target": target_kind,
        "instance": instance,
        "sandbox_port": sandbox_port,
        "checks": [c.to_dict() for c in doctor.checks],
        "commands": [r.to_dict() for r in runner.records],
        "changed": mutating,
    }


def summary(report: dict[str, Any]) -> str:
    """The readable page that goes with the JSON: one line per check, and what to do with both."""
    lines = [f"octorunbook field test ({report['target']}, instance {report['instance']})", ""]
    for check in report["checks"]:
        mark = "ok  " if check["ok"] else "FAIL"
        seen = check.get("seen")
        detail = f"{check['code']}: {check['message']}" if not check["ok"] else _short(seen)
        lines.append(f"[{mark}] {check['name']}: {detail}")
    changed = report.get("changed") or []
    lines += ["", f"commands run: {len(report['commands'])}; commands that changed something: {len(changed)}"]
    lines.append("Attach this file and the JSON report to an issue (both are redacted).")
    return "\n".join(lines) + "\n"


def _short(seen: Any) -> str:
    if not isinstance(seen, dict):
        return str(seen)
    keys = ("exists", "settings_not_listed", "refused", "account", "needs_url_acl", "problems", "skipped",
            "netsh_agrees", "registry_agrees", "update_keeps_unspecified_settings", "deleted",
            "cipher_order_policy", "applicable", "private")  # fmt: skip
    shown = {k: seen[k] for k in keys if k in seen}
    if "reservations" in seen:
        shown["reservations"] = len(seen["reservations"])
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or "ok"


def posix_state_folder(folder: Path) -> dict[str, Any]:
    """The sandbox's state folder: owner and mode, the POSIX form of the same promise."""
    info = folder.lstat()
    problems = []
    if info.st_uid != os.geteuid():
        problems.append(f"owned by uid {info.st_uid}")
    if info.st_mode & 0o077:
        problems.append(f"mode {oct(info.st_mode & 0o777)} lets others in")
    return {"path": str(folder), "private": not problems, "problems": problems}


def windows_host(runner: CommandRunner) -> Host:
    """This Windows host, through the same drivers the runbooks use."""
    from octorunbook.commands import netsh_exe, reg_exe
    from octorunbook.targets.hardening.windows import CIPHER_ORDER_KEY, LOCAL_CIPHER_ORDER_KEY, read_schannel
    from octorunbook.targets.httpsys import console_encoding
    from octorunbook.targets.localmachine import LocalMachineStore
    from octorunbook.targets.windows import WindowsCertificateStore, default_state_dir, sc_exe
    from octorunbook.targets.windows.state_acl import WindowsFolderGuard, ancestor_problems, private_problems

    encoding = console_encoding()

    def state_folder() -> dict[str, Any]:
        folder = default_state_dir()
        report = WindowsFolderGuard(runner).inspect(folder)
        if not report.folder.exists:
            return {"path": str(folder), "exists": False, "private": None, "problems": []}
        problems = private_problems(report.folder) + [
            p for a in report.ancestors for p in ancestor_problems(a)
        ]
        return {"path": str(folder), "exists": True, "owner_sid": report.folder.owner_sid,
                "private": not problems, "problems": problems}  # fmt: skip

    def schannel() -> dict[str, Any]:
        """The cipher suite order from each source on its own: the policy value (GPO, IIS Crypto) and
        the local CNG list (Enable-/Disable-TlsCipherSuite) — whether a stock server fills the local one is
        what facts S1/S2 ask."""
        state = read_schannel(runner)
        policy = state.get(CIPHER_ORDER_KEY, "Functions")
        local = state.get(LOCAL_CIPHER_ORDER_KEY, "Functions")
        return {
            **state.to_record(),
            "cipher_order_policy": policy is not None and policy.value is not None,
            "cipher_order_policy_value": None if policy is None else policy.value,
            "cipher_order_local": None if local is None else local.value,
            "cipher_order_local_type": None if local is None else local.kind or None,
        }

    return Host(
        HttpSys(netsh_exe(), runner, encoding=encoding, reg=reg_exe()),
        UrlAcls(netsh_exe(), sc_exe(), runner, encoding=encoding),
        LocalMachineStore(WindowsCertificateStore(runner), "My"),
        state_folder,
        schannel,
    )


def sandbox_host(root: Path, instance: str, runner: CommandRunner) -> Host:
    """The sandbox's stand-ins: the same questions, answered the way the reference says Windows would."""
    from octorunbook.targets.httpsys.front import HttpSysFront
    from octorunbook.targets.octopus.urlacl import UrlAcls as Acls
    from octorunbook.targets.sandbox import Sandbox

    sandbox = Sandbox(root)
    target = sandbox.open_target(instance, runner)
    front = target.parts.front
    if not isinstance(front, HttpSysFront):
        raise OctorunbookError(
            "RUNBOOK_NOT_FOR_FRONT",
            f"the field test examines an HTTP.sys host; this sandbox has the {front.kind} front.",
            "Use a sandbox with the httpsys front.",
        )
    state = target.state_dir or sandbox.root / "state"
    return Host(
        front.httpsys,
        Acls(str(sandbox.netsh_exe), str(sandbox.sc_exe), runner),
        target.parts.store,
        lambda: posix_state_folder(state) if state.exists() else {"path": str(state), "exists": False},
        None,
    )
