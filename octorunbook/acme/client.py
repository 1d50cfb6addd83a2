"""``certificate_source: acme``: a certificate from an RFC 8555 CA (Let's Encrypt, ZeroSSL, step-ca, ...).

The protocol is certbot's ``acme`` library (``ClientV2``, ``messages``) over ``josepy`` keys: no JWS or
ACME message is written here. What this module adds is what an administrator who has used win-acme
expects around it:

* **One account per CA and target**, its key generated once and kept in the target's state folder
  (``<state>/acme/<ca-host>-<hash>/account.key``, mode 0600, in a folder the state home checks as it
  checks itself: 0700, ours, not a link — ``STATE_DIR_UNSAFE`` otherwise; the key and ``account.json`` are
  written without following a link and read back only if ours and private, ``STATE_UNTRUSTED`` and
  quarantined otherwise: :meth:`~octorunbook.targets.state.StateHome.folder`; on Windows the folder is
  ``%ProgramData%\\octorunbook`` and :func:`account_acl_argvs` gives it to Administrators and limits
  it to Administrators and SYSTEM with ``takeown`` and ``icacls`` through the command seam). The account URL is stored beside it and the account is
  reused on every later run (``only_return_existing`` proves it still exists).
* **Terms of service**: choosing ``certificate_source: acme`` is agreeing to the CA's terms, as
  certbot's ``--agree-tos``; the record names the terms URL and when they were agreed.
* **External account binding**: ``acme_eab_kid`` + the HMAC from the environment variable named by
  ``acme_eab_hmac_env`` (never a parameter; masked in every record).
* **Problem documents** become stable codes with remedies (``acme_errors.py``); ``badNonce`` is
  retried (the library retries once, we retry the call up to three times).
* **The record** holds the CA, the account URL, the order URL, the challenge type and each
  authorisation's result; never the account key.

The certificate key is new for every order (``key_type``), the certificate and chain come back as a
:class:`~octorunbook.certificates.LoadedCertificate` and are judged, imported and bound like any other.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import ntpath
import os
import re
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from octorunbook import __version__, certificates
from octorunbook.acme.errors import PROBLEM_CODES, acme_errors, refuse_signed_redirects, retry_bad_nonce
from octorunbook.acme.network import mount_deadline
from octorunbook.acme.neworder import new_order, require_profile
from octorunbook.commands import windows_system_folder
from octorunbook.findings import TargetError
from octorunbook.redaction import Secret, secret_from_env, shown_env_name
from octorunbook.targets.state import StateHome, untrusted

if TYPE_CHECKING:
    from acme import client as acme_client

    from octorunbook.runbooks.run import Run

ACCOUNT_KEY = "account.key"
ACCOUNT_FILE = "account.json"
MAX_ACCOUNT_FILE = 64 * 1024  # a PEM RSA key or the account's JSON is a few kilobytes


# ------------------------------------------------------------------------------------------------
# The account
# ------------------------------------------------------------------------------------------------
def account_dir(state_dir: Path, directory: str) -> Path:
    host = re.sub(r"[^a-z0-9.-]", "-", urlsplit(directory).hostname or "").strip(".-") or "ca"
    return state_dir / "acme" / f"{host}-{hashlib.sha256(directory.encode()).hexdigest()[:10]}"


def account_folder(home: StateHome, directory: str) -> Path:
    """The account's folder in the state home, created 0700 or checked (``STATE_DIR_UNSAFE``: a link,
    another owner, a group- or world-writable folder)."""
    return home.folder("acme", account_dir(home.root, directory).name)


def read_account_key(home: StateHome, folder: Path) -> bytes | None:
    """The stored account key (PEM), None when there is none; a key that is a link, not ours, or that
    anyone else may read or write is quarantined (``STATE_UNTRUSTED``): it may have been seen or swapped."""
    return home.read_private(folder, ACCOUNT_KEY, MAX_ACCOUNT_FILE, secret=True)


def store_account_key(home: StateHome, folder: Path, pem: bytes) -> bytes:
    """Store a new account key 0600, never through a link; the key stored (another run's, if it was first)."""
    try:
        home.write_private(folder, ACCOUNT_KEY, pem, exclusive=True)
    except FileExistsError:  # another run stored one first (or planted something: read_account_key says)
        stored = read_account_key(home, folder)
        if stored is None:
            raise
        return stored
    return pem


def read_account_record(home: StateHome, folder: Path) -> dict[str, Any] | None:
    """The stored account (URL, contact, terms), None when there is none; anything but a record of ours
    naming an account URL is quarantined (``STATE_UNTRUSTED``)."""
    raw = home.read_private(folder, ACCOUNT_FILE, MAX_ACCOUNT_FILE)
    if raw is None:
        return None
    try:
        stored = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        stored = None
    url = stored.get("url") if isinstance(stored, dict) else None
    if not (isinstance(url, str) and url.startswith(("https://", "http://"))):
        path = folder / ACCOUNT_FILE
        why = "it is not an ACME account record naming the account's URL"
        raise untrusted(path, why, home.quarantine(path, why))
    assert isinstance(stored, dict)
    return stored


def account_acl_argvs(folder: Path) -> list[list[str]]:
    """Windows: the account folder owned by Administrators, readable by Administrators and SYSTEM only.

    ``icacls /grant:r`` alone keeps whatever else the folder had: a folder an ordinary user made
    first stays that user's (an owner may always rewrite the DACL) and keeps the rules the user added.
    So, in order: ``takeown /A`` makes Administrators the owner (``icacls /setowner`` "does not force a
    change of ownership"; takeown uses the take-ownership privilege); ``icacls /reset`` drops every
    explicit rule; ``/inheritance:r`` drops the inherited ones and ``/grant:r`` leaves exactly
    Administrators and SYSTEM. Well-known SIDs (``*S-1-5-…``): names are translated on non-English
    Windows. Full paths: a bare name is looked up in the current folder first.
    """
    system = windows_system_folder()
    icacls = ntpath.join(system, "icacls.exe")
    return [
        [ntpath.join(system, "takeown.exe"), "/F", str(folder), "/A"],
        [icacls, str(folder), "/reset"],
        [icacls, str(folder), "/inheritance:r", "/grant:r", "*S-1-5-32-544:(OI)(CI)F", "*S-1-5-18:(OI)(CI)F"],
    ]


def _account_key(run: Run, home: StateHome, folder: Path) -> Any:
    """The account key (RSA 2048, RS256: every ACME CA accepts it), created once, 0600."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from josepy.jwk import JWKRSA

    path = folder / ACCOUNT_KEY
    stored = read_account_key(home, folder)
    if stored is not None:
        return JWKRSA(key=serialization.load_pem_private_key(stored, None))
    target = run.require_target()
    if target.kind == "windows":
        for argv in account_acl_argvs(folder):
            result = target.runner.run(argv, mutating=True, label="acme account ACL")
            if not result.ok:
                raise TargetError(
                    "ACME_ACCOUNT_ACL",
                    f"Could not give {folder} to Administrators and SYSTEM only "
                    f"({ntpath.basename(argv[0])}): {result.output.strip()[-300:]}",
                    "Run as Administrator. No account key was written.",
                )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    kept = store_account_key(home, folder, pem)
    if kept != pem:  # another run made the account key first: use that one
        return JWKRSA(key=serialization.load_pem_private_key(kept, None))
    run.secrets_note["private_key_files"].append(
        {"purpose": "ACME account key (kept for reuse)", "path": str(path), "mode": "0600", "removed": False}
    )
    return JWKRSA(key=key)


def _client(run: Run, key: Any) -> acme_client.ClientV2:
    from acme import client

    p = run.params
    verify: Any = str(Path(p.acme_ca_bundle).expanduser()) if p.acme_ca_bundle else True
    net = client.ClientNetwork(key, verify_ssl=verify, user_agent=f"octorunbook/{__version__} acme-python")
    mount_deadline(net.session)  # each request ends at its deadline as a whole, not per read
    refuse_signed_redirects(net.session)
    directory = client.ClientV2.get_directory(p.acme_directory_url, net)
    return client.ClientV2(directory, net)


def _eab(run: Run, acme: acme_client.ClientV2, key: Any) -> dict[str, Any] | None:
    from acme import messages

    p = run.params
    if not p.acme_eab_kid:
        return None
    hmac: Secret | None = secret_from_env(p.acme_eab_hmac_env)
    if hmac is None:
        raise TargetError(
            "ACME_EAB_HMAC_MISSING",
            f"The environment variable {shown_env_name(p.acme_eab_hmac_env)} (acme_eab_hmac_env) is not set.",
            "Put the HMAC key your CA gave you into that environment variable and run again.",
        )
    binding: dict[str, Any] = messages.ExternalAccountBinding.from_data(
        account_public_key=key.public_key(),
        kid=p.acme_eab_kid,
        hmac_key=hmac.reveal(),
        directory=acme.directory,
    )
    return binding


def ensure_account(
    run: Run, acme: acme_client.ClientV2, key: Any, home: StateHome, folder: Path
) -> dict[str, Any]:
    """Reuse the stored account (proven to exist), or register one and store its URL."""
    from acme import errors, messages

    p = run.params
    meta = acme.directory.meta
    terms = str(getattr(meta, "terms_of_service", "") or "")
    stored = read_account_record(home, folder)
    if stored is not None:
        regr = messages.RegistrationResource(
            uri=stored["url"], body=messages.Registration.from_json(stored.get("body", {}))
        )
        try:
            retry_bad_nonce(lambda: acme.query_registration(regr), run)
        except messages.Error as exc:
            if exc.code not in {"accountDoesNotExist", "unauthorized"}:
                raise
            raise TargetError(
                "ACME_ACCOUNT_NOT_FOUND",
                f"The CA no longer knows the account {stored['url']} ({exc.detail}).",
                f"Delete {folder} to register a new account on the next run.",
            ) from None
        return {**stored, "reused": True}
    if getattr(meta, "external_account_required", False) and not p.acme_eab_kid:
        code, remedy = PROBLEM_CODES["externalAccountRequired"]
        raise TargetError(
            code, f"{p.acme_directory_url} accepts only accounts bound to an external account.", remedy
        )
    new = messages.NewRegistration.from_data(
        email=p.acme_email or None,
        terms_of_service_agreed=True,
        external_account_binding=_eab(run, acme, key),
    )
    try:
        regr = retry_bad_nonce(lambda: acme.new_account(new), run)
    except errors.ConflictError as exc:  # the key already has an account (a run killed before saving)
        regr = messages.RegistrationResource(uri=str(exc), body=messages.Registration())
        regr = retry_bad_nonce(lambda: acme.query_registration(regr), run)
    record = {
        "url": regr.uri,
        "directory": p.acme_directory_url,
        "contact": list(regr.body.contact or ()),
        "terms_of_service": terms,
        "terms_agreed_at": run.started_at,
        "created_at": run.started_at,
        "body": {"contact": list(regr.body.contact or ())},
    }
    home.write_private(folder, ACCOUNT_FILE, json.dumps(record, indent=2).encode("utf-8"))
    run.change("acme account", f"registered {regr.uri} at {p.acme_directory_url}", url=regr.uri)
    return {**record, "reused": False}


# ------------------------------------------------------------------------------------------------
# The order
# ------------------------------------------------------------------------------------------------
def _deadline() -> datetime.datetime:
    seconds = float(os.environ.get("OCTORUNBOOK_ACME_ORDER_SECONDS", "180") or 180)
    return datetime.datetime.now() + datetime.timedelta(seconds=seconds)  # the library compares naive now()


def obtain_acme_certificate(run: Run) -> certificates.LoadedCertificate:
    """Account → order → challenges → finalise → download; the certificate with its new key and chain."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from octorunbook.acme.orders import answer_authorizations, await_authorizations

    p = run.params
    target = run.require_target()
    directory = p.acme_directory_url
    summary: dict[str, Any] = {
        "directory": directory,
        "ca": urlsplit(directory).hostname,
        "challenge": p.acme_challenge,
    }
    run.extra["acme"] = summary
    if p.acme_challenge == "http-01":
        from octorunbook.acme.challenges import require_responder

        require_responder(run)  # a target that cannot answer HTTP-01 is refused before an account or order
    if p.dry_run:
        return _dry_run(run, summary)
    with acme_errors(directory):
        acme = _client(run, None)
        require_profile(run, acme.directory)  # before any account or order: ACME_PROFILE_UNSUPPORTED
        home = target.state()
        folder = account_folder(home, directory)
        key = _account_key(run, home, folder)
        acme.net.key = key  # the directory was read unsigned; every request from here on is signed
        account = ensure_account(run, acme, key, home, folder)
        summary["account"] = {
            k: account.get(k) for k in ("url", "reused", "terms_of_service", "terms_agreed_at")
        }
        cert_key = certificates.new_key(p.key_type)  # type: ignore[arg-type]  # checked by check()
        key_pem = cert_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        from acme import crypto_util

        csr = crypto_util.make_csr(key_pem, list(p.dns_names))
        order = new_order(run, acme, csr)  # with acme_profile, and replaces when ARI found it due
        summary["order_url"] = order.uri
        with ExitStack() as registered:
            summary["authorizations"] = answer_authorizations(run, acme, order, registered)
            order = await_authorizations(run, acme, order, summary, _deadline())
        order = retry_bad_nonce(lambda: acme.finalize_order(order, _deadline()), run)
    chain = x509.load_pem_x509_certificates(order.fullchain_pem.encode())
    summary["certificate"] = {
        "thumbprint": certificates.thumbprint_of(chain[0]),
        "issuer": chain[0].issuer.rfc4514_string(),
        "chain_length": len(chain),
    }
    summary["bad_nonce_retries"] = run.state.pop("acme_bad_nonce_retries", 0)
    run.change(
        "acme order", f"certificate issued by {summary['ca']} for {', '.join(p.dns_names)}", order=order.uri
    )
    return certificates.LoadedCertificate(chain[0], cert_key, tuple(chain[1:]), "acme")


def _dry_run(run: Run, summary: dict[str, Any]) -> certificates.LoadedCertificate:
    """Plan only: the directory is read (proving it is reachable and trusted); no account, no order.

    The rest of the dry run needs a certificate to plan with, so a self-signed placeholder for the same
    names and key type stands in for the one the CA would issue; a finding says so.
    """
    from dataclasses import replace

    from acme import client

    from octorunbook.findings import Finding

    p = run.params
    verify: Any = str(Path(p.acme_ca_bundle).expanduser()) if p.acme_ca_bundle else True
    with acme_errors(p.acme_directory_url):
        net = client.ClientNetwork(
            None, verify_ssl=verify, user_agent=f"octorunbook/{__version__} acme-python"
        )
        mount_deadline(net.session)
        directory = client.ClientV2.get_directory(p.acme_directory_url, net)
    require_profile(run, directory)
    folder = account_dir(run.require_target().state_dir, p.acme_directory_url)
    summary.update(
        dry_run=True,
        terms_of_service=str(getattr(directory.meta, "terms_of_service", "") or ""),
        account={"stored": os.path.lexists(folder / ACCOUNT_FILE)},  # a dry run creates and reads nothing
    )
    run.note(
        Finding(
            "ACME_DRY_RUN",
            "info",
            f"Dry run: {p.acme_directory_url} answered; no account was registered and no certificate ordered. "
            "The plan uses a self-signed placeholder for the same names.",
            "Run again without dry_run to order the certificate"
            + (" (port 80 must be reachable by the CA)." if p.acme_challenge == "http-01" else "."),
        )
    )
    placeholder = certificates.generate_self_signed(p.hostname, p.dns_names[1:], p.key_type, 90)  # type: ignore[arg-type]
    return replace(placeholder, source="acme-dry-run")


__all__ = [
    "account_acl_argvs",
    "account_dir",
    "account_folder",
    "ensure_account",
    "obtain_acme_certificate",
    "read_account_key",
    "read_account_record",
    "store_account_key",
]
