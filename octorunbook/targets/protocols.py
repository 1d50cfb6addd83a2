"""The seam between the runbooks and the machines they change: three parts, three small protocols.

A target is three parts, each replaceable on its own::

    CertificateStore   where certificates and their keys live
                       (Windows LocalMachine\\My; the sandbox's folder store; a PEM directory for nginx)
    TlsFront           what terminates TLS and which certificate it serves on a port
                       (HTTP.sys through ssl-certificate / netsh; the sandbox's HTTP.sys stand-in; nginx)
    OctopusInstance    the Octopus Server behind the front: listen prefixes, ForceSSL, HSTS, the service
                       (on Linux behind nginx: the plain-HTTP address the proxy forwards to)

Runbook 03 (and 04, renewal) is written once against these protocols: for each part it reads the
current state, asks the part for the desired one, shows the difference and the exact actions, applies
only the parts whose state differs, proves the result over TLS, and on failure gives each changed part
its previous state back, in reverse order. The record names which implementations ran (``kind``).

Who does what differs by topology, and that is the point of asking each part for its own desired state
from one :class:`PortalIntent` (the operator's words, topology-free): behind HTTP.sys, Octopus itself
listens on the https prefix, redirects (ForceSSL) and sends HSTS, and the front only binds the
certificate; behind nginx, the front listens, redirects and sends HSTS, and Octopus keeps serving plain
HTTP to the proxy. Verification does not care: it connects from outside and checks the intent.

Arrows (nothing imports upward; an implementation never imports another implementation)::

    notebooks -> ui -> runbooks -> targets.protocols <- targets.windows | targets.sandbox | targets.nginx
                       runbooks -> evidence, audit, certificates -> findings

This module imports no implementation and nothing with side effects (``TargetError`` for the ACME token
check); ``LoadedCertificate`` and ``Finding`` are named for the type checker only (``certificates`` is pure: cryptography and findings).

States are frozen values compared with ``==``: an unchanged part is one whose desired state equals its
current state, so a second run changes nothing and says ``unchanged``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from ..findings import TargetError

if TYPE_CHECKING:
    from ..certificates import LoadedCertificate
    from ..findings import Finding

# --- values ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PemFiles:
    """Where a PEM store keeps one certificate: the leaf and its chain, and the private key.

    Fronts that read files (nginx) serve from these paths; fronts that read a Windows store by
    thumbprint (HTTP.sys) never look at them.
    """

    fullchain: Path
    privkey: Path

    def to_record(self) -> dict[str, str]:
        return {"fullchain": str(self.fullchain), "privkey": str(self.privkey)}


@dataclass(frozen=True)
class StoredCertificate:
    """A certificate as its store reports it. ``store`` is what the operator calls the store
    (``My``, ``WebHosting``, ``/etc/octorunbook/certs``); ``files`` is set by PEM stores only."""

    thumbprint: str
    store: str
    subject: str
    dns_names: tuple[str, ...]
    not_before: str
    not_after: str
    has_private_key: bool
    key_provider: str = ""
    key_exportable: bool | None = None
    eku_oids: tuple[str, ...] = ()
    location: str = "LocalMachine"
    files: PemFiles | None = None
    chain_added: tuple[str, ...] = ()  # intermediates this import put into the CA store (Windows, sandbox)
    roots_not_added: tuple[str, ...] = ()  # self-signed roots the PFX carried, reported, never installed

    def to_record(self) -> dict[str, Any]:
        data = asdict(self)
        data["dns_names"] = list(self.dns_names)
        data["eku_oids"] = list(self.eku_oids)
        if self.files is None:
            del data["files"]  # a Windows or sandbox store has no files; its record stays as it was
        else:
            data["files"] = self.files.to_record()
        data["chain_added"] = list(self.chain_added)
        data["roots_not_added"] = list(self.roots_not_added)
        return data


@dataclass(frozen=True)
class Proof:
    """One row of evidence a part gives about itself (02's checks): what was checked, expected, seen.

    ``code`` is the finding code an operator sees when ``ok`` is False.
    """

    check: str
    expected: str
    seen: str
    ok: bool
    code: str = ""

    def to_record(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PortalIntent:
    """What the operator asked for, in the operator's words, whatever terminates TLS.

    ``hsts_max_age`` 0 means no HSTS header; ``http_port`` is where plain HTTP is redirected from
    (``force_ssl``) or removed from (``keep_http`` False).
    """

    hostname: str
    https_port: int
    certificate: StoredCertificate
    force_ssl: bool
    hsts_max_age: int
    keep_http: bool = True
    http_port: int = 80

    @classmethod
    def location(cls, hostname: str, https_port: int) -> PortalIntent:
        """An intent that says only *where* (what ``read`` looks at: the port, the file), for readers
        that want no change: a check, a rollback reading what it restored."""
        return cls(hostname, https_port, StoredCertificate("", "", "", (), "", "", False), False, 0)

    @property
    def https_url(self) -> str:
        port = "" if self.https_port == 443 else f":{self.https_port}"
        return f"https://{self.hostname}{port}/"


@dataclass(frozen=True)
class SettingDiff:
    """One row of a plan: a setting, its current value and the value the run will give it."""

    setting: str
    current: str
    desired: str

    @property
    def changes(self) -> bool:
        return self.current != self.desired


@dataclass(frozen=True)
class Action:
    """One thing apply will do, shown in the plan before it happens: a command (``argv``) or a file
    write (``argv`` empty, ``label`` says which file)."""

    label: str
    argv: tuple[str, ...] = ()

    def text(self) -> str:
        return " ".join(self.argv) if self.argv else self.label


class State(Protocol):
    """A part's state, as read or desired: a frozen value, compared with ``==``, recorded as JSON."""

    def to_record(self) -> dict[str, Any]: ...


StateT = TypeVar("StateT", bound=State)


class ChangeLog(Protocol):
    """Where a part reports each change as it makes it (``Run.change`` is one), so a failure half-way
    leaves a record of exactly what was done."""

    def change(self, action: str, detail: str) -> None: ...


# --- the three parts ------------------------------------------------------------------------------


class Part(Protocol[StateT]):
    """Get / Test / Set for one part (OctopusDSC's triad), plus the way back.

    ``read`` changes nothing; it is given the intent because where to look can depend on it (HTTP.sys
    reads the binding of ``intent.https_port``). ``desired`` is pure: the same intent and current state
    give the same answer. ``apply`` changes only what differs and reports each change. ``restore``
    gives back a state ``read`` returned before, also after an ``apply`` that failed half-way
    (rollback). Both raise ``OctorunbookError`` subclasses with stable codes. A runbook applies the
    front before the instance (a binding is looked up per handshake; a restart comes last) and
    restores in reverse order.
    """

    kind: str

    def read(self, intent: PortalIntent) -> StateT: ...

    def desired(self, intent: PortalIntent, current: StateT) -> StateT: ...

    def diff(self, current: StateT, desired: StateT) -> Sequence[SettingDiff]: ...

    def findings(self, current: StateT, desired: StateT) -> Sequence[Finding]:
        """What the operator should read before apply: warnings only this part knows (nginx: polling
        Tentacles cannot share a TLS-offloaded port; Octopus: this run turns ForceSSL or HSTS off)."""
        ...

    def actions(self, current: StateT, desired: StateT) -> Sequence[Action]: ...

    def apply(self, current: StateT, desired: StateT, log: ChangeLog) -> None: ...

    def restore(self, previous: StateT, log: ChangeLog) -> None: ...

    def state_from_record(self, record: dict[str, Any]) -> StateT:
        """The inverse of ``State.to_record``: a change journal keeps the snapshot as JSON, and the run
        after a crash gives it back to ``restore``."""
        ...


@runtime_checkable
class CertificateStore(Protocol):
    """One certificate store (``LocalMachine\\My``, a PEM directory): what 01 fills and 02 proves.

    A store object is one store; the operator's ``store`` parameter chooses which object is opened.
    """

    kind: str
    name: str
    # What an import into it and its proofs mean: "localmachine" (a Windows-shaped named store, filled
    # from a one-time PFX) or "pem-directory" (files nginx reads). Runbooks 01 and 02 look their steps up by it.
    family: str

    def exists(self) -> bool: ...

    def add(self, certificate: LoadedCertificate, *, exportable: bool = False) -> StoredCertificate:
        """Put the certificate, its chain and its private key in the store; read it back."""
        ...

    def get(self, thumbprint: str) -> StoredCertificate | None: ...

    def certificates(self) -> list[StoredCertificate]: ...

    def certificate_pem(self, thumbprint: str) -> bytes | None:
        """The certificate and its chain (public parts only) as PEM, for judging it."""
        ...

    def prove(self, thumbprint: str) -> list[Proof]:
        """02's evidence: the key is there, opens, and belongs to the certificate (and, for files,
        that only the owner can read it)."""
        ...

    def remove(self, thumbprint: str) -> None: ...

    def sibling(self, name: str) -> CertificateStore:
        """The store called ``name`` on the same host (``WebHosting`` beside ``My``; itself for its own
        name), for a binding or a check that names another store. Raises ``STORE_NOT_ON_THIS_TARGET``
        when this family keeps no store of that name."""
        ...


class TlsFront(Part[StateT], Protocol[StateT]):
    """What terminates TLS on ``intent.https_port`` and which certificate it serves there."""

    def prove_can_serve(self, certificate: StoredCertificate) -> list[Proof]:
        """02's evidence that this front can load the certificate (nginx: ``nginx -t`` with it)."""
        ...

    def serves(self, state: StateT) -> str:
        """The thumbprint a state of this front serves (empty: none) — what a rollback proves."""
        ...

    def serves_at(self, state: StateT) -> int | None:
        """The https port (as browsers use it) ``state`` serves on; None when it serves nothing. A run
        that moves the portal to another port watches both, so its rollback proves the old one again."""
        ...

    def explain(self, current: StateT, desired: StateT) -> dict[str, Any]:
        """How apply takes the front from ``current`` to ``desired`` and why (``method``, ``why``, and
        what it carries), for the plan and the record: a renewal says how the certificate is swapped."""
        ...

    def users(self, thumbprint: str) -> list[str]:
        """Every place this front serves ``thumbprint`` now (HTTP.sys: each ``sslcert`` record, IP and
        hostname ones; nginx: the managed server block) — a certificate still used is never retired."""
        ...


class OctopusInstance(Part[StateT], Protocol[StateT]):
    """The Octopus Server instance behind the front."""

    name: str

    def require(self) -> None:
        """Raise ``INSTANCE_NOT_FOUND`` when the instance does not exist on this host."""
        ...

    def http_address(self, intent: PortalIntent, current: StateT) -> tuple[str, int] | None:
        """The plain-HTTP host name and port the proof probes (redirected with ``force_ssl``, answering
        with ``keep_http``, silent otherwise); None when nothing serves plain HTTP to check. Behind
        HTTP.sys it is Octopus's own http prefix (HTTP.sys routes by host name); behind nginx the
        front's HTTP server."""
        ...

    def answers_on(self, state: StateT) -> str | None:
        """The prefix the portal answers on in ``state`` (``http://localhost:80/``), which a restore
        proves answers again; None when the front's proof says it all (behind a proxy)."""
        ...

    def kept(self, intent: PortalIntent, current: StateT) -> PortalIntent:
        """``intent`` with what this instance decides taken from ``current`` instead of the parameters
        (behind HTTP.sys: ForceSSL, HSTS and the http prefix are Octopus's). A renewal changes only the
        certificate: it plans and proves against this, and the instance is not touched."""
        ...


ACME_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


def require_acme_token(token: str) -> str:
    """``token`` when it is a base64url ACME token (RFC 8555 §8.3, no padding); else
    ``ACME_TOKEN_INVALID``. A token comes from the CA: it names a file only after this check, so it can
    never name a path, and it never goes on a command line (a leading ``-`` is a parameter name there)."""
    if not ACME_TOKEN.fullmatch(token):
        raise TargetError(
            "ACME_TOKEN_INVALID",
            "The CA's HTTP-01 token is not base64url (RFC 8555 §8.3); it is not written anywhere.",
            "Check acme_directory: is it the CA you meant?",
        )
    return token


class ChallengeResponder(Protocol):
    """A role a target can play for ACME HTTP-01: answer ``/.well-known/acme-challenge/<token>`` on its
    port 80 while Octopus keeps every other URL (HTTP.sys: a second, stronger URL registration; the
    sandbox: its stand-in's token folder). A target without one takes dns-01 only.

    ``serving`` is entered once per authorisation and the ``with`` blocks nest (an order for two names
    holds both open until the CA has decided): a responder must serve every token that is open at once
    from one registration — HTTP.sys refuses a second registration of the same prefix (error 183)."""

    kind: str

    def serving(self, token: str, key_authorization: str) -> AbstractContextManager[dict[str, Any]]:
        """Answer the token inside the ``with`` (the dict fills with what the responder reports, for the
        ``with`` that closes the registration); unregistered after it, pass or fail. Raises a coded error
        when it cannot register, ``ACME_TOKEN_INVALID`` for a token that is not base64url."""
        ...


@dataclass(frozen=True)
class TargetParts:
    """The parts of one topology, as the runbooks use them (``kinds`` goes into the record): the three
    parts, and the optional roles (``responder`` for ACME HTTP-01; a front may also be hardenable)."""

    store: CertificateStore
    front: TlsFront[Any]
    instance: OctopusInstance[Any]
    responder: ChallengeResponder | None = None

    def kinds(self) -> dict[str, str]:
        return {"store": self.store.kind, "front": self.front.kind, "instance": self.instance.kind}


__all__ = [
    "ACME_TOKEN",
    "Action",
    "CertificateStore",
    "ChallengeResponder",
    "ChangeLog",
    "OctopusInstance",
    "Part",
    "PemFiles",
    "PortalIntent",
    "Proof",
    "SettingDiff",
    "State",
    "StoredCertificate",
    "TargetParts",
    "TlsFront",
    "require_acme_token",
]
