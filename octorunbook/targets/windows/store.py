"""The driver under ``localmachine.LocalMachineStore`` on a Windows host: the LocalMachine certificate
stores through the shipped PowerShell scripts, the store named on every call. What an import means (the
one-time PFX, its encryption, a key that did not come) is the store's; this module runs the commands.

Each method runs one script (``scripts/*.ps1``) through the command seam and turns the one JSON object
it prints into value objects or a coded error. The scripts do the Windows-specific work; this module
decides what each outcome means for the operator.

Why it is built this way (reference/windows-cert-store-and-httpsys.md):

* The store is opened with ``OpenExistingOnly``: ``X509Store.Open(ReadWrite)`` would silently create a
  missing ``WebHosting`` store, and ``Import-PfxCertificate`` may fall back to ``My``. A missing store
  stops the run with ``STORE_MISSING`` instead.
* The import is read back from the store: the return value of an import is not proof that a key came
  with the certificate (an AES-256 PFX on Server 2016, or a wrong password on some builds, can import
  certificates without their key).
* Windows reports a wrong password and an unreadable (AES-256) PFX with the same error, so the message
  says both.
* ``HasPrivateKey`` does not prove the key can be opened; :meth:`test_private_key` signs and verifies.
* SANs and EKUs are taken from the certificate's DER (``raw``), decoded here with ``cryptography``;
  the lists the script extracted are the fallback.
"""

from __future__ import annotations

import base64
import re
import ssl
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography import x509

from octorunbook.targets.windows.powershell import (
    format_hresult,
    hresult_is,
    iso_utc,
    not_elevated,
    run_script,
    script_details,
    script_failure,
    strings,
)

from ...commands import CommandResult, CommandRunner
from ...findings import CommandError, InputError, OctorunbookError, TargetError
from ...redaction import Secret
from ..base import KeyCheck, StoredCertificate

PASSWORD_ENV = "OCTORUNBOOK_PFX_PASSWORD_CHILD"
ERROR_INVALID_PASSWORD = 0x80070056
NTE_BAD_KEYSET = 0x80090016
NTE_BAD_PROV_TYPE = 0x80090014
E_ACCESSDENIED = 0x80070005

KEY_RUN_ELEVATED_REMEDY = (
    "Run elevated ('Run as administrator'). If it persists, the key file is missing or its ACL shuts this "
    "account out: import the PFX again into the LocalMachine store (run 01)."
)
KEY_CNG_REMEDY = (
    "The key is in a CNG key storage provider that this .NET Framework cannot open through the API used "
    "(it fell back to the CryptoAPI-only .PrivateKey). Install .NET Framework 4.8, or import the PFX again "
    'into a CryptoAPI provider: certutil -importPFX -csp "Microsoft RSA SChannel Cryptographic Provider" '
    "My file.pfx (RSA keys only), then run 02 again."
)
KEY_NO_HANDLE_REMEDY = (
    "Windows returned no key handle for this certificate (GetECDsaPrivateKey: ArgumentNullException): the "
    "certificate's key provider information points at a key that is not there or not ECDSA. Import the PFX "
    "again into the LocalMachine store (run 01); if it persists, export the certificate with its key again."
)


def key_failure_explanation(data: Mapping[str, Any]) -> tuple[str, str]:
    """(what is wrong with the key, remedy) for a key that cannot be opened, by HRESULT or exception type."""
    hresult = data.get("hresult")
    if hresult_is(hresult, NTE_BAD_KEYSET):
        return "has a private key that cannot be opened (Keyset does not exist)", KEY_RUN_ELEVATED_REMEDY
    if hresult_is(hresult, NTE_BAD_PROV_TYPE):
        return (
            "has a private key in a CNG provider that .NET could not open (Invalid provider type specified)",
            KEY_CNG_REMEDY,
        )
    if str(data.get("exception_type") or "") == "System.ArgumentNullException":
        return "has a private key Windows returns no handle for (ArgumentNullException)", KEY_NO_HANDLE_REMEDY
    if hresult_is(hresult, E_ACCESSDENIED):
        return "has a private key this account may not open (access denied)", KEY_RUN_ELEVATED_REMEDY
    return "has a private key that cannot be opened", KEY_RUN_ELEVATED_REMEDY


STORE_MISSING_REMEDY = (
    "Use store My (Personal): the WebHosting store exists only where IIS 8 or later is installed. "
    "Or install IIS first. octorunbook never creates a store."
)
_STORE_NAME = re.compile(r"^[A-Za-z0-9]{1,64}$")


def clean_thumbprint(value: str) -> str:
    """40 upper-case hex digits; anything else (spaces, the MMC's invisible prefix) is dropped first."""
    cleaned = re.sub(r"[^0-9A-Fa-f]", "", value or "").upper()
    if len(cleaned) != 40:
        raise InputError(
            "THUMBPRINT_INVALID",
            f"{value!r} is not a certificate thumbprint (40 hexadecimal characters).",
            "Copy the thumbprint from runbook 01's result or from `Get-ChildItem Cert:\\LocalMachine\\My`.",
        )
    return cleaned


def check_store_name(store: str) -> str:
    if not _STORE_NAME.match(store or ""):
        raise InputError(
            "STORE_INVALID",
            f"{store!r} is not a certificate store name.",
            "Use My (Personal) or WebHosting: the only LocalMachine stores Octopus can bind from.",
        )
    return store


def _der(data: Mapping[str, Any]) -> bytes | None:
    raw = data.get("raw")
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        return None


def _names_from_der(der: bytes | None) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(SAN DNS names, EKU OIDs) from the DER, or None when it does not parse."""
    if der is None:
        return None
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    try:
        dns = tuple(
            cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
                x509.DNSName
            )
        )
    except x509.ExtensionNotFound:
        dns = ()
    try:
        eku = tuple(
            o.dotted_string for o in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        )
    except x509.ExtensionNotFound:
        eku = ()
    return dns, eku


def key_provider_label(data: Mapping[str, Any]) -> str:
    """``Microsoft Software Key Storage Provider (CNG)``: the provider name and which API it belongs to."""
    provider = str(data.get("key_provider") or "").strip()
    kind = str(data.get("key_kind") or "").strip()
    if provider and kind:
        return f"{provider} ({kind})"
    return provider or kind


def stored_certificate(data: Mapping[str, Any], store: str, result: CommandResult) -> StoredCertificate:
    """The value object for one certificate object printed by a script; unreadable fields are an error."""
    try:
        thumbprint = clean_thumbprint(str(data.get("thumbprint") or ""))
        not_before = iso_utc(str(data["not_before"]))
        not_after = iso_utc(str(data["not_after"]))
    except (KeyError, ValueError, InputError) as exc:
        raise TargetError(
            "POWERSHELL_OUTPUT_UNREADABLE",
            f"The certificate described by PowerShell has an unreadable field ({exc}).",
            "Run the same command by hand and read its output; report it with the record.",
            details=script_details(result, data),
        ) from None
    from_der = _names_from_der(_der(data))
    dns_names, eku_oids = (
        from_der if from_der is not None else (strings(data.get("dns_names")), strings(data.get("eku_oids")))
    )
    exportable = data.get("key_exportable")
    return StoredCertificate(
        thumbprint=thumbprint,
        store=str(data.get("store") or store),
        subject=str(data.get("subject") or ""),
        dns_names=dns_names,
        not_before=not_before,
        not_after=not_after,
        has_private_key=data.get("has_private_key") is True,
        key_provider=key_provider_label(data),
        key_exportable=exportable if isinstance(exportable, bool) else None,
        eku_oids=eku_oids,
    )


def _store_missing(store: str, result: CommandResult, data: Mapping[str, Any]) -> TargetError:
    return TargetError(
        "STORE_MISSING",
        f"The LocalMachine\\{store} certificate store does not exist on this server.",
        STORE_MISSING_REMEDY,
        details=script_details(result, data),
    )


class WindowsCertificateStore:
    """``Cert:\\LocalMachine\\<store>`` on the Windows host this process runs on (a ``LocalMachineDriver``)."""

    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner
        # thumbprint -> the intermediates its import added to LocalMachine\CA: removed with it on rollback
        self._chain_added: dict[str, tuple[str, ...]] = {}

    # -- reading ----------------------------------------------------------------------------------
    def store_exists(self, store: str) -> bool:
        data, result = run_script(
            self.runner,
            "store-exists.ps1",
            ["-StoreName", check_store_name(store)],
            label=f"does store {store} exist",
        )
        if data["status"] == "not_elevated":
            raise not_elevated(result, data, f"opening LocalMachine\\{store}")
        if data["status"] != "ok" or not isinstance(data.get("exists"), bool):
            raise script_failure(data, result, "store-exists.ps1", "STORE_CHECK_FAILED")
        return bool(data["exists"])

    def _get(self, thumbprint: str, store: str) -> tuple[dict[str, Any] | None, CommandResult]:
        arguments = ["-StoreName", check_store_name(store), "-Thumbprint", clean_thumbprint(thumbprint)]
        data, result = run_script(self.runner, "get-certificate.ps1", arguments, label="read certificate")
        status = data["status"]
        if status == "not_found":
            return None, result
        if status == "store_missing":
            raise _store_missing(store, result, data)
        if status == "not_elevated":
            raise not_elevated(result, data, f"reading LocalMachine\\{store}")
        certificate = data.get("certificate")
        if status != "ok" or not isinstance(certificate, dict):
            raise script_failure(data, result, "get-certificate.ps1", "CERTIFICATE_READ_FAILED")
        return certificate, result

    def get_certificate(self, thumbprint: str, store: str) -> StoredCertificate | None:
        certificate, result = self._get(thumbprint, store)
        return None if certificate is None else stored_certificate(certificate, store, result)

    def certificate_pem(self, thumbprint: str, store: str) -> bytes | None:
        """The public certificate as PEM (no key, no chain), for judging a certificate already in the store."""
        certificate, result = self._get(thumbprint, store)
        if certificate is None:
            return None
        der = _der(certificate)
        if der is None:
            raise TargetError(
                "POWERSHELL_OUTPUT_UNREADABLE",
                "PowerShell described the certificate without its encoded form.",
                "Run get-certificate.ps1 by hand and read its output; report it with the record.",
                details=script_details(result, certificate),
            )
        return ssl.DER_cert_to_PEM_cert(der).encode("ascii")

    def list_certificates(self, store: str) -> list[StoredCertificate]:
        """Certificates in the store that have a private key: the ones Octopus can bind."""
        data, result = run_script(
            self.runner,
            "list-certificates.ps1",
            ["-StoreName", check_store_name(store)],
            label="list certificates",
        )
        if data["status"] == "store_missing":
            raise _store_missing(store, result, data)
        if data["status"] == "not_elevated":
            raise not_elevated(result, data, f"reading LocalMachine\\{store}")
        if data["status"] != "ok":
            raise script_failure(data, result, "list-certificates.ps1", "CERTIFICATE_READ_FAILED")
        items = data.get("certificates") or []
        if isinstance(items, dict):  # one certificate, if an array was ever unrolled on the way
            items = [items]
        found = [stored_certificate(item, store, result) for item in items if isinstance(item, dict)]
        return [c for c in found if c.has_private_key]

    # -- changing ---------------------------------------------------------------------------------
    def import_pfx(
        self, pfx_path: Path, password: Secret, store: str, *, exportable: bool = False
    ) -> StoredCertificate:
        """Import into ``LocalMachine\\<store>`` with MachineKeySet | PersistKeySet; read it back."""
        check_store_name(store)
        path = Path(pfx_path).resolve()
        if not path.is_file():
            raise InputError("FILE_NOT_FOUND", f"Cannot read {pfx_path}: no such file.", "Check pfx_path.")
        arguments = ["-StoreName", store, "-FilePath", str(path)]
        if exportable:
            arguments.append("-Exportable")
        data, result = run_script(
            self.runner,
            "import-pfx.ps1",
            arguments,
            label=f"import PFX into LocalMachine\\{store}",
            mutating=True,
            secret_env={PASSWORD_ENV: password},
        )
        status = data["status"]
        if status == "ok" and isinstance(data.get("certificate"), dict):
            stored = stored_certificate(data["certificate"], store, result)
            chain = tuple(clean_thumbprint(t) for t in strings(data.get("chain_added")))
            roots = tuple(
                f"{r.get('thumbprint', '')} {r.get('subject', '')}".strip()
                for r in (data.get("roots_not_added") or [])
                if isinstance(r, dict)
            )
            if chain:
                self._chain_added[stored.thumbprint] = chain
            return replace(stored, chain_added=chain, roots_not_added=roots)
        raise self._import_error(status, data, result, store, path, password)

    def _import_error(
        self,
        status: str,
        data: Mapping[str, Any],
        result: CommandResult,
        store: str,
        path: Path,
        password: Secret,
    ) -> Exception:
        error = self._import_error_for(status, data, result, store, path, password)
        cleanup = data.get("cleanup")
        left = strings(cleanup.get("left_behind")) if isinstance(cleanup, dict) else ()
        kept = strings(cleanup.get("keys_kept")) if isinstance(cleanup, dict) else ()
        if (left or kept) and isinstance(error, OctorunbookError):
            # The script removes what a failed import added; what it could not remove is said loudly. The
            # key of a certificate that was in the store before is never deleted: say which were kept.
            said = f" The failed import left behind: {', '.join(left)}." if left else ""
            if kept:
                said += (
                    f" The keys of {', '.join(kept)} were kept: the certificate was in the store before the "
                    "import and may now use the key it brought."
                )
            return type(error)(
                error.code,
                error.message + said,
                error.remedy
                + (
                    " Remove what was left behind with certlm.msc (Local Computer certificates)."
                    if left
                    else ""
                ),
                details=error.finding.details,
            )
        return error

    def _import_error_for(
        self,
        status: str,
        data: Mapping[str, Any],
        result: CommandResult,
        store: str,
        path: Path,
        password: Secret,
    ) -> Exception:
        details = script_details(result, data)
        hresult = format_hresult(data.get("hresult"))
        if status == "store_missing":
            return _store_missing(store, result, data)
        if status == "not_elevated":
            return not_elevated(result, data, f"importing into LocalMachine\\{store}")
        if status == "file_not_found":
            return InputError(
                "FILE_NOT_FOUND", f"PowerShell cannot read {path}.", "Check pfx_path.", details=details
            )
        if status == "wrong_password" or (
            status == "error" and hresult_is(data.get("hresult"), ERROR_INVALID_PASSWORD)
        ):
            if password.reveal() and data.get("password_received") is False:
                return CommandError(
                    "IMPORT_FAILED",
                    "The PFX password did not reach PowerShell through the environment.",
                    "This is a bug in octorunbook or a policy that strips environment variables; report it.",
                    details=details,
                )
            return InputError(
                "PFX_WRONG_PASSWORD",
                "Windows could not open the PFX: the password is wrong, or the PFX is encrypted with AES-256, "
                "which Windows Server 2016 (build 14393) and older cannot read; Windows reports both the same "
                f"way{f' ({hresult})' if hresult else ''}.",
                "Check the password in the environment variable named by pfx_password_env. On Windows Server "
                "2016 or older, export the PFX again with TripleDES-SHA1 (`openssl pkcs12 -export -legacy`, or "
                "Export-PfxCertificate -CryptoAlgorithmOption TripleDES_SHA1).",
                details=details,
            )
        if status == "no_private_key":
            return InputError(
                "PFX_NO_PRIVATE_KEY",
                "The PFX imported without a private key for its certificate; HTTP.sys cannot serve it. "
                f"({data.get('message') or 'no key'})",
                "Export the certificate again *with* its private key. On Windows Server 2016 and older an "
                "AES-256 PFX (and on some builds a PFX opened with a wrong password) imports its certificates "
                "without the key: export with TripleDES-SHA1 and check the password.",
                details=details,
            )
        message = str(data.get("message") or "no message")
        return CommandError(
            "IMPORT_FAILED",
            f"Importing the PFX into LocalMachine\\{store} failed: {message}{f' ({hresult})' if hresult else ''}",
            "Read the message and the command in the record. Run elevated ('Run as administrator'); check that "
            "the PFX opens on another machine; then run 01 again.",
            details=details,
        )

    def test_private_key(self, thumbprint: str, store: str) -> KeyCheck:
        """Open the key, sign 32 bytes and verify with the certificate's public key."""
        thumb = clean_thumbprint(thumbprint)
        data, result = run_script(
            self.runner,
            "test-private-key.ps1",
            ["-StoreName", check_store_name(store), "-Thumbprint", thumb],
            label="prove the private key works",
        )
        status = data["status"]
        provider = key_provider_label(data)
        algorithm = str(data.get("key_algorithm") or "")
        if status == "ok":
            hash_name = str(data.get("hash") or "SHA256")
            return KeyCheck(
                True, algorithm, provider, f"signed 32 bytes ({hash_name}) and verified with the certificate"
            )
        if status == "verify_failed":
            return KeyCheck(
                False,
                algorithm,
                provider,
                "the signature does not verify: the key does not belong to this certificate",
            )
        if status == "not_found":
            raise TargetError(
                "CERT_NOT_FOUND",
                f"No certificate {thumb} in LocalMachine\\{store}.",
                "Run 01 to import it, or check the thumbprint and store.",
                details=script_details(result, data),
            )
        if status == "store_missing":
            raise _store_missing(store, result, data)
        if status in ("key_not_accessible", "no_private_key"):
            if status == "no_private_key":
                what, remedy = "has no private key", KEY_RUN_ELEVATED_REMEDY
            else:
                what, remedy = key_failure_explanation(data)
            message = f"Certificate {thumb} in LocalMachine\\{store} {what}."
            if data.get("message"):
                hresult = format_hresult(data.get("hresult"))
                message += f" Windows says: {data['message']}{f' ({hresult})' if hresult else ''}"
            raise TargetError("KEY_NOT_ACCESSIBLE", message, remedy, details=script_details(result, data))
        if status == "not_elevated":
            raise not_elevated(result, data, "opening the private key")
        raise script_failure(data, result, "test-private-key.ps1", "KEY_TEST_FAILED")

    def remove_certificate(self, thumbprint: str, store: str) -> None:
        """Remove a certificate and its key. Only for rolling back a certificate this run imported."""
        data, result = run_script(
            self.runner,
            "remove-certificate.ps1",
            ["-StoreName", check_store_name(store), "-Thumbprint", clean_thumbprint(thumbprint)],
            label="remove certificate (rollback)",
            mutating=True,
        )
        status = data["status"]
        if status not in ("ok", "not_found"):
            if status == "store_missing":
                raise _store_missing(store, result, data)
            if status == "not_elevated":
                raise not_elevated(result, data, f"removing from LocalMachine\\{store}")
            raise script_failure(data, result, "remove-certificate.ps1", "REMOVE_FAILED")
        # The intermediates this import added to LocalMachine\CA go with it; ones already there stay.
        for intermediate in self._chain_added.pop(clean_thumbprint(thumbprint), ()):
            self.remove_certificate(intermediate, "CA")
