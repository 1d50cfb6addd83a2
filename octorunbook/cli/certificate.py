"""``octorunbook certificate check|new``: the certificate checks and generator, for scripts and CI.

Exit codes: 0 no error finding, 1 at least one error finding, 2 a usage error (bad arguments, a file
that is not there, a password variable that is not set). Passwords only ever come from environment
variables, never from the command line, where they would land in shell history and process lists.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, get_args

from octorunbook import certificates as certs
from octorunbook.emit import json_document
from octorunbook.findings import InputError, errors
from octorunbook.redaction import SECRETS, secret_from_env, shown_env_name

DEFAULT_PASSWORD_ENV = "OCTORUNBOOK_PFX_PASSWORD"
USAGE_CODES = {
    "FILE_NOT_FOUND",
    "FILE_UNREADABLE",
    "FILE_NOT_REGULAR",
    "FILE_TOO_LARGE",
    "PFX_PASSWORD_MISSING",
}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``certificate check`` and ``certificate new`` to the main ``octorunbook`` parser."""
    group = subparsers.add_parser(
        "certificate",
        help="check a certificate file, or generate a self-signed one for the portal",
        description="Check a certificate before it is imported, or generate a self-signed one.",
    )
    actions = group.add_subparsers(dest="certificate_command", metavar="{check,new}", required=True)

    check = actions.add_parser(
        "check",
        help="judge a PFX or PEM certificate the way Windows and browsers will",
        description="Load a PFX (or a PEM certificate with --key) and report every problem a browser or "
        "HTTP.sys would have with it. Exit 0: no error finding; 1: an error finding; 2: usage error.",
    )
    check.add_argument("file", metavar="FILE", help="the .pfx/.p12 file, or a PEM certificate (chain) file")
    check.add_argument("--hostname", help="the host name operators browse to; checked against the SAN names")
    check.add_argument(
        "--password-env",
        default=DEFAULT_PASSWORD_ENV,
        metavar="VAR",
        help=f"environment variable holding the PFX (or PEM key) password (default: {DEFAULT_PASSWORD_ENV})",
    )
    check.add_argument(
        "--key", metavar="FILE", help="the PEM private key belonging to a PEM certificate FILE"
    )
    check.add_argument(
        "--json", action="store_true", help="print {certificate, findings} as JSON instead of a card"
    )
    check.set_defaults(func=run_check)

    new = actions.add_parser(
        "new",
        help="generate a self-signed certificate for the portal as a password-protected PFX",
        description="Generate a self-signed server certificate (SAN = hostname + extra names, EKU serverAuth, "
        "SHA-256) and write it with its key as a PFX readable only by you.",
    )
    new.add_argument(
        "--hostname", required=True, help="the portal's host name; the certificate's first SAN and CN"
    )
    new.add_argument("--out", required=True, metavar="FILE.pfx", help="where to write the PFX (mode 0600)")
    new.add_argument(
        "--password-env",
        required=True,
        metavar="VAR",
        help="environment variable holding the new PFX's password",
    )
    new.add_argument(
        "--extra-dns-name",
        action="append",
        default=[],
        metavar="NAME",
        help="another name (or IP address) the certificate must cover; repeat for more",
    )
    new.add_argument(
        "--key-type",
        default="rsa2048",
        choices=get_args(certs.KeyType),
        help="key algorithm (default: rsa2048)",
    )
    new.add_argument(
        "--validity-days",
        type=int,
        default=397,
        help="lifetime in days, 1-825 (default: 397, the browser maximum)",
    )
    new.add_argument(
        "--pfx-encryption",
        default="compatible",
        choices=["compatible", "aes"],
        help="compatible: 3DES/SHA-1, imports on every Windows; aes: AES-256, Windows Server 2019+ only "
        "(default: compatible)",
    )
    new.add_argument("--force", action="store_true", help="overwrite FILE.pfx if it already exists")
    new.set_defaults(func=run_new)


def _fail(error: InputError) -> int:
    print(SECRETS.redact(str(error)), file=sys.stderr)
    return 2


def run_check(args: argparse.Namespace) -> int:
    try:  # a --password-env that is no variable name, or a too-short password: usage errors
        secret_from_env(args.password_env)
        loaded, findings = certs.check_file(
            args.file, hostname=args.hostname, password_env=args.password_env, key_path=args.key
        )
    except InputError as error:
        return _fail(error)
    if args.json:
        document: dict[str, Any] = {
            "certificate": loaded.info.to_record() if loaded else None,
            "findings": [f.to_dict() for f in findings],
        }
        print(json_document(SECRETS.redact_obj(document)))
    elif loaded is not None:
        print(SECRETS.redact(certs.card_text(loaded.info, findings)))
    else:
        for f in findings:
            print(SECRETS.redact(f"{f.symbol} {f.code}: {f.message}\n  → {f.remedy}"), file=sys.stderr)
    if loaded is None and any(f.code in USAGE_CODES for f in findings):
        return 2
    return 1 if errors(findings) else 0


def _write_private(path: Path, data: bytes, force: bool) -> None:
    """Write ``data`` readable by the owner only: the PFX holds a private key."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise InputError(
            "OUTPUT_EXISTS", f"{str(path)!r} already exists.", "Choose another --out, or add --force."
        ) from None
    except OSError as exc:
        raise InputError(
            "FILE_UNREADABLE", f"Cannot write {str(path)!r}: {exc.strerror}.", "Check the path."
        ) from None
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)  # an existing file keeps its old mode under O_TRUNC
        handle.write(data)


def run_new(args: argparse.Namespace) -> int:
    try:
        password = secret_from_env(args.password_env)
    except InputError as error:
        return _fail(error)
    if password is None:
        return _fail(
            InputError(
                "PFX_PASSWORD_MISSING",
                f"The environment variable {shown_env_name(args.password_env)} is not set (or empty).",
                f"Set {shown_env_name(args.password_env)} to the password the new PFX should have.",
            )
        )
    out = Path(args.out)
    try:
        loaded = certs.generate_self_signed(
            args.hostname, args.extra_dns_name, args.key_type, args.validity_days
        )
        _write_private(out, certs.export_pfx(loaded, password, args.pfx_encryption), args.force)
    except InputError as error:
        return _fail(error)
    print(f"Wrote {out} ({args.pfx_encryption} encryption)")
    print(f"Thumbprint: {loaded.info.thumbprint}")
    return 0
