"""Restoring an interrupted renewal: the binding only, no restart, and the certificate that run imported.

Runbook 04 promises no restart: it only swaps the HTTP.sys binding, keeping every per-binding setting.
So its change journal says it is a renewal (``"kind": "renewal"``) and keeps what undoing it takes:
the swap method, the old binding's whole ``sslcert`` record and carried settings, and the certificate
it imported (and whether it imported it or found it in the store). A run that finds such a journal
puts the old binding back the way 04's own rollback does — no ``service stop``/``start``, no
``configure`` — proves over TLS that the old certificate is served again, and only then removes the
certificate the killed run imported, if nothing binds it. A journal without ``kind`` (03's, or one
written by an older version) keeps 03's full restore (``journal.recover_interrupted``).

It sits below ``runbook`` (``Run.open`` calls :func:`recover_interrupted`) and below ``renewal_swap``
(which writes the journal with :func:`renewal_entry` and swaps with :func:`swap_binding`), so it names
the run through ``journal.Run`` and imports neither.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from octorunbook.evidence.tls import tls_handshake
from octorunbook.findings import Finding, OctorunbookError, TargetError
from octorunbook.render import Panel, Row
from octorunbook.runbooks.undo import (
    Checkpoint,
    Run,
    interrupted_what,
    reject,
    restorer,
    restores_interrupted,
    show_restored,
)
from octorunbook.targets.base import STORES, SslBinding, Target
from octorunbook.targets.httpsys import sslcert_argv

RENEWAL_KIND = "renewal"
_THUMBPRINT = re.compile(r"^[0-9A-F]{40}$")
_IP = re.compile(r"^(\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.-]{1,253})$")
_APP_ID = re.compile(r"^\{?[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}\}?$")
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]{0,512}$")
LABEL = "restore interrupted change"
PROOF_SECONDS = 10.0  # how long the proof waits for the old certificate to be served again


def swap_argv(
    target: Target, binding: SslBinding, method: str, settings: dict[str, str], thumbprint: str, store: str
) -> list[list[str]]:
    """The commands that put ``thumbprint`` on ``binding``'s endpoint by ``method``, settings kept."""
    if method == "octopus":
        host, _, port = binding.ip_port.rpartition(":")
        return [target.octopus.ssl_certificate_argv(thumbprint, store, ip_address=host, port=int(port))]
    args = (binding.ip_port, thumbprint, binding.application_id, store, settings)
    if method == "netsh-update":
        return [sslcert_argv(target.httpsys.exe, "update", *args)]
    return [
        [target.httpsys.exe, "http", "delete", "sslcert", f"ipport={binding.ip_port}"],
        sslcert_argv(target.httpsys.exe, "add", *args),
    ]


def swap_binding(
    target: Target, binding: SslBinding, method: str, settings: dict[str, str], thumbprint: str, store: str
) -> None:
    """Run :func:`swap_argv`'s change through the target (each part reads its result back)."""
    host, _, port = binding.ip_port.rpartition(":")
    if method == "octopus":
        target.octopus.ssl_certificate(thumbprint, store, ip_address=host, port=int(port))
        return
    args = (binding.ip_port, thumbprint, binding.application_id, store, settings)
    if method == "netsh-update":
        target.httpsys.set_binding("update", *args)
    else:
        target.httpsys.delete(int(port), host)
        target.httpsys.set_binding("add", *args)


def renewal_entry(
    binding: SslBinding,
    method: str,
    settings: dict[str, str],
    thumbprint: str,
    store: str,
    imported_now: bool,
    hostname: str,
) -> dict[str, Any]:
    """What 04 adds to its checkpoint (``Checkpoint.begin(run, "renewal", ..., **renewal_entry(...))``)."""
    return {
        "renewal": {
            "topology": "httpsys",
            "method": method,
            "old_binding": {**binding.to_record(), "fields": dict(binding.fields)},
            "settings": dict(settings),
            "new_certificate": {"thumbprint": thumbprint, "store": store, "imported_by_run": imported_now},
            "hostname": hostname,
        },
    }


@dataclass(frozen=True)
class InterruptedRenewal:
    """A renewal's journal entry, read back: what to put back and what to remove."""

    old: SslBinding
    method: str
    settings: dict[str, str]
    new_thumbprint: str
    new_store: str
    imported_by_run: bool
    hostname: str
    port: int

    @classmethod
    def from_journal(cls, data: dict[str, Any]) -> InterruptedRenewal:
        entry = data["renewal"]
        b = entry["old_binding"]
        new = entry["new_certificate"]
        method = str(entry["method"])
        if method not in {"octopus", "netsh-update", "netsh-delete-add"}:
            raise ValueError(f"unknown swap method {method!r}")
        renewal = cls(
            SslBinding(
                str(b["ip_port"]),
                str(b["certificate_hash"]),
                str(b["application_id"]),
                str(b["store_name"]),
                {str(k): str(v) for k, v in dict(b["fields"]).items()},
            ),
            method,
            {str(k): str(v) for k, v in dict(entry["settings"]).items()},
            str(new["thumbprint"]).upper(),
            str(new["store"]),
            bool(new["imported_by_run"]),
            str(entry["hostname"]),
            int(data["port"]),
        )
        renewal.check()
        return renewal

    def check(self) -> None:
        """Every value as a parameter would be checked: a checkpoint names certificates and an endpoint,
        never anything to run or a path; an endpoint other than the run's port is refused."""
        for thumbprint in (self.old.certificate_hash, self.new_thumbprint):
            if not _THUMBPRINT.fullmatch(thumbprint):
                raise ValueError("a thumbprint is not 40 hexadecimal characters")
        for store in (self.old.store_name, self.new_store):
            if store not in STORES:
                raise ValueError(f"store {store!r} is not one Octopus binds from")
        host, _, port = self.old.ip_port.rpartition(":")
        if not port.isdigit() or int(port) != self.port or not _IP.fullmatch(host):
            raise ValueError(f"the binding {self.old.ip_port!r} is not on this run's port {self.port}")
        if not _APP_ID.fullmatch(self.old.application_id):
            raise ValueError("the application id is not a GUID")
        texts = [
            *self.settings,
            *self.settings.values(),
            *self.old.fields,
            *self.old.fields.values(),
            self.hostname,
        ]
        if any(not _PRINTABLE.fullmatch(text) for text in texts):
            raise ValueError("a binding setting holds control characters or is too long")

    def restore_argv(self, target: Target) -> list[list[str]]:
        o = self.old
        return swap_argv(target, o, self.method, self.settings, o.certificate_hash, o.store_name)


def settings_view(binding: SslBinding) -> dict[str, str]:
    """Every field of the ``sslcert`` record but the two a swap changes."""
    skip = {"certificate hash", "certificate store name"}
    return {k: v for k, v in binding.fields.items() if k.strip().lower() not in skip}


@restorer(RENEWAL_KIND)
def recover_interrupted(run: Run, checkpoint: Checkpoint) -> None:
    """An unfinished renewal on HTTP.sys gets the binding-only restore (no restart)."""
    try:
        renewal = InterruptedRenewal.from_journal(checkpoint.data)
    except (ValueError, KeyError, TypeError) as exc:
        raise reject(checkpoint, f"its renewal entry does not fit ({type(exc).__name__}: {exc})") from None
    _recover(run, checkpoint, renewal)


def _recover(run: Run, journal: Checkpoint, renewal: InterruptedRenewal) -> None:
    target = run.require_target()
    d = journal.data
    old = renewal.old
    by_hand = "; ".join(" ".join(c) for c in renewal.restore_argv(target))
    if renewal.imported_by_run:
        by_hand += f"; remove {renewal.new_thumbprint} from LocalMachine\\{renewal.new_store} (certlm.msc)"
    by_hand += f"; then delete {journal.path}"
    what = interrupted_what(d)
    run.extra["interrupted_change"] = {**d, "journal": str(journal.path)}
    run.reporter.show(
        Panel(
            "INTERRUPTED_CHANGE: the binding before that renewal",
            "warning",
            [
                Row("warning", "what", what),
                Row("info", f"HTTP.sys binding {old.ip_port}", f"{old.certificate_hash} ({old.store_name})"),
                *(Row("info", f"  setting {k}", v) for k, v in sorted(renewal.settings.items())),
                Row(
                    "info",
                    "new certificate",
                    f"{renewal.new_thumbprint} ("
                    + ("imported by that run" if renewal.imported_by_run else "in the store before that run")
                    + ")",
                ),
                Row("info", "it was applying", "; ".join(d.get("commands", []))),
                Row("info", "restore", f"the binding only ({renewal.method}); Octopus is not restarted"),
            ],
        )
    )
    if not restores_interrupted(run, what, by_hand, journal.path):
        return
    journal.phase("restoring")
    run.state["interrupted_snapshot"] = d.get("snapshot")
    complete = _restore_binding(run, target, renewal, by_hand)
    ok, seen = _prove(run, target, renewal)
    if ok and complete:
        _remove_new_certificate(run, target, renewal)
    show_restored(
        run, ok, complete, "old certificate served", f"expected {old.certificate_hash}; seen {seen}"
    )
    if not (ok and complete):
        raise TargetError(
            "INTERRUPTED_RESTORE_FAILED",
            "The binding from before the interrupted renewal could not be restored and proven; nothing new "
            "was planned.",
            f"The journal {journal.path} is kept, so the next run tries again. Or restore by hand: {by_hand}",
            details={"journal": str(journal.path)},
        )
    journal.done()


def _restore_binding(run: Run, target: Target, renewal: InterruptedRenewal, by_hand: str) -> bool:
    """Put the old binding back unless it is in place; True when nothing failed."""
    old = renewal.old
    host, _, port = old.ip_port.rpartition(":")
    try:
        now = target.httpsys.show(int(port), host)
        if now is not None and now.certificate_hash.upper() == old.certificate_hash.upper():
            if settings_view(now) == settings_view(old) and now.store_name.lower() == old.store_name.lower():
                return True  # killed before the swap took effect: nothing to put back
        if now is None and renewal.method != "octopus":  # a delete-and-add stopped halfway
            target.httpsys.set_binding(
                "add", old.ip_port, old.certificate_hash, old.application_id, old.store_name, renewal.settings
            )
        else:
            swap_binding(target, old, renewal.method, renewal.settings, old.certificate_hash, old.store_name)
        run.change(
            f"{LABEL}: restore binding",
            f"{old.ip_port}: {old.certificate_hash} ({old.store_name}) by {renewal.method}, no restart",
        )
        return True
    except OctorunbookError as exc:
        _failed(
            run,
            f"{LABEL}: restore binding",
            exc,
            Finding(
                "INTERRUPTED_RESTORE_FAILED",
                "error",
                f"Restoring the binding from before the interrupted renewal failed: {exc.message}",
                "Restore by hand: " + by_hand,
            ),
        )
        return False


def _served(target: Target, renewal: InterruptedRenewal) -> str:
    host, real = target.endpoint(renewal.port)
    try:
        return tls_handshake(host, real, renewal.hostname).thumbprint
    except OSError as exc:
        return f"handshake failed: {exc or type(exc).__name__}"


def _prove(run: Run, target: Target, renewal: InterruptedRenewal) -> tuple[bool, str]:
    """The old certificate is served again over TLS, and the binding has every setting it had."""
    old = renewal.old
    expected = old.certificate_hash.upper()
    deadline = time.monotonic() + PROOF_SECONDS
    seen = _served(target, renewal)
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.1)
        seen = _served(target, renewal)
    host, _, port = old.ip_port.rpartition(":")
    try:
        now: SslBinding | None = target.httpsys.show(int(port), host)
    except OctorunbookError:
        now = None
    kept = now is not None and settings_view(now) == settings_view(old)
    run.verification.extend(
        [
            {
                "check": f"after {LABEL}: binding settings as before",
                "expected": "every setting except the hash as before",
                "seen": "as before" if kept else ("no binding" if now is None else "settings differ"),
                "ok": kept,
                "code": "BINDING_SETTINGS_LOST",
            },
            {
                "check": f"after {LABEL}: old certificate served",
                "expected": expected,
                "seen": seen,
                "ok": seen == expected,
                "code": "ROLLBACK_UNVERIFIED",
            },
        ]
    )
    return seen == expected and kept, seen


def _remove_new_certificate(run: Run, target: Target, renewal: InterruptedRenewal) -> None:
    """After the proof only: remove what the killed run imported, unless something binds it."""
    new, store = renewal.new_thumbprint, renewal.new_store
    if not renewal.imported_by_run:
        return  # it was in the store before that run: not ours to remove
    try:
        if (
            not target.parts.store.sibling(store).exists()
            or target.parts.store.sibling(store).get(new) is None
        ):
            return
        bound = [b.ip_port for b in target.httpsys.show_all() if b.certificate_hash.upper() == new]
        if bound:
            run.note(
                Finding(
                    "RETIRE_FAILED",
                    "warning",
                    f"The certificate {new} the interrupted renewal imported is kept: {', '.join(bound)} "
                    "binds it.",
                    "Remove it by hand once nothing uses it (certlm.msc).",
                )
            )
            return
        target.parts.store.sibling(store).remove(new)
        run.change(
            f"{LABEL}: remove new certificate", f"{new} from LocalMachine\\{store} (imported by that run)"
        )
    except OctorunbookError as exc:
        _failed(
            run,
            f"{LABEL}: remove new certificate",
            exc,
            Finding(
                "RETIRE_FAILED",
                "warning",
                f"The old binding is restored, but removing {new} (imported by the interrupted renewal) failed: "
                f"{exc.message}",
                "Remove it by hand once nothing uses it (certlm.msc).",
            ),
        )


def _failed(run: Run, action: str, exc: OctorunbookError, finding: Finding) -> None:
    run.change(action, f"FAILED: {exc.code} {exc.message}")
    run.note(finding)


__all__ = [
    "RENEWAL_KIND",
    "InterruptedRenewal",
    "recover_interrupted",
    "renewal_entry",
    "settings_view",
    "swap_argv",
    "swap_binding",
]
