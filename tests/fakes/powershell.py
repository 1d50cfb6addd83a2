"""Stand-in for ``powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File <script> ...``.

It reads the real script's ``param()`` block and binds the named arguments the way PowerShell would
(unknown names and missing mandatory parameters are refused with PowerShell's messages), then answers
for that script with the JSON shape the script documents, from a store kept in ``$FAKE_WINDOWS_DIR``.
The PFX password is read from the environment only, and the PFX is really decrypted with it.

``FAKE_SCENARIO`` (comma-separated) picks documented outcomes: success, wrong_password, no_key,
webhosting_missing, keyset_missing, verify_failed, not_elevated, import_error, ps51_dates,
garbage_before_json, no_json, utf8_bom, cng, server_exe_missing, windows_2016, constrained_language,
dotnet_452, store_open_denied, cert_drive_missing, key_bad_provider_type, key_no_handle,
readback_without_key, cleanup_fails.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import _state
from acl_powershell import protect_state_folder

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.serialization import pkcs12

EXPECTED_OPTIONS = ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File"]
FILE_NOT_FOUND = -2147024894
ACCESS_DENIED = -2147024891
INVALID_PASSWORD = -2147024810
BAD_KEYSET = -2146893802
BAD_PROV_TYPE = -2146893804
E_POINTER = -2147467261


class Refused(Exception):
    """PowerShell itself refuses to run the script (before the script prints anything)."""


def _crypto() -> None:
    """cryptography, for the scripts that read or make certificates and keys only: most calls (a store
    check, the state folder's ACL, host facts) need none of it, and importing it is most of a call's CPU."""
    global x509, hashes, serialization, ec, padding, rsa, pkcs12  # noqa: PLW0603
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.serialization import pkcs12


def declared_parameters(script: Path) -> dict[str, tuple[str, bool]]:
    """name -> (type, mandatory) from the script's param() block."""
    text = script.read_text(encoding="utf-8-sig")
    match = re.search(r"^param\((.*?)^\)", text, re.S | re.M)
    if not match:
        return {}
    params: dict[str, tuple[str, bool]] = {}
    for line in match.group(1).splitlines():
        found = re.search(r"\[(\w+)\]\$(\w+)", line)
        if found:
            params[found.group(2)] = (found.group(1).lower(), "Mandatory = $true" in line)
    return params


def bind(script: Path, args: list[str]) -> dict[str, Any]:
    declared = declared_parameters(script)
    bound: dict[str, Any] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("-"):
            raise Refused(f"A positional parameter cannot be found that accepts argument '{token}'.")
        name = token[1:]
        if name not in declared:
            raise Refused(f"A parameter cannot be found that matches parameter name '{name}'.")
        if declared[name][0] == "switch":
            bound[name] = True
            i += 1
            continue
        if i + 1 >= len(args):
            raise Refused(
                f"Missing an argument for parameter '{name}'. Specify a parameter of type 'System.String' and try again."
            )
        bound[name] = args[i + 1]
        i += 2
    missing = [n for n, (_, mandatory) in declared.items() if mandatory and n not in bound]
    if missing:
        raise Refused(
            f"Cannot process command because of one or more missing mandatory parameters: {' '.join(missing)}."
        )
    return bound


# -- certificates ---------------------------------------------------------------------------------
def ps_date(moment: datetime) -> str | int:
    if "ps51_dates" in _state.scenarios():
        return f"/Date({int(moment.timestamp() * 1000)})/"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def windows_subject(name: x509.Name) -> str:
    return ", ".join(reversed(name.rfc4514_string().split(",")))


def describe(entry: dict[str, Any], store: str, with_key: bool) -> dict[str, Any]:
    _crypto()
    der = base64.b64decode(entry["der"])
    cert = x509.load_der_x509_certificate(der)
    try:
        dns = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName
        )
    except x509.ExtensionNotFound:
        dns = []
    try:
        eku = [o.dotted_string for o in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value]
    except x509.ExtensionNotFound:
        eku = []
    info: dict[str, Any] = {
        "thumbprint": cert.fingerprint(hashes.SHA1()).hex().upper(),
        "store": store,
        "subject": windows_subject(cert.subject),
        "issuer": windows_subject(cert.issuer),
        "friendly_name": "",
        "not_before": ps_date(cert.not_valid_before_utc),
        "not_after": ps_date(cert.not_valid_after_utc),
        "has_private_key": entry.get("has_key", False),
        "dns_names": dns,
        "eku_oids": eku,
        "raw": entry["der"],
        "key_algorithm": "",
        "key_kind": "",
        "key_provider": "",
        "key_exportable": None,
        "key_error": "",
        "key_hresult": 0,
    }
    if with_key and entry.get("has_key"):
        if "keyset_missing" in _state.scenarios() or not entry.get("key_pem"):
            info["key_error"] = "Keyset does not exist"
            info["key_hresult"] = BAD_KEYSET
        else:
            info.update(key_description(entry))
    return info


def key_description(entry: dict[str, Any]) -> dict[str, Any]:
    _crypto()
    key = serialization.load_pem_private_key(entry["key_pem"].encode(), None)
    algorithm = f"RSA {key.key_size}" if isinstance(key, rsa.RSAPrivateKey) else f"ECDSA {key.curve.key_size}"  # type: ignore[union-attr]
    return {
        "key_algorithm": algorithm,
        "key_kind": entry["key_kind"],
        "key_provider": entry["key_provider"],
        "key_exportable": entry["exportable"],
    }


def error(status: str, phase: str, message: str, hresult: int, **extra: Any) -> dict[str, Any]:
    return {
        "status": status,
        "phase": phase,
        "message": message,
        "outer_message": f'Exception calling "Import" with "3" argument(s): "{message}"'
        if phase == "import"
        else message,
        "exception_type": "System.Security.Cryptography.CryptographicException",
        "hresult": hresult,
        "error_id": "CryptographicException",
        **extra,
    }


def open_store(store: str, write: bool) -> dict[str, Any] | None:
    if not re.fullmatch(r"[A-Za-z0-9]{1,64}", store):
        return error(
            "error", "start", f"Invalid certificate store name '{store}': use My or WebHosting.", -2146233087
        )
    if not _state.store_exists(store):
        return error("store_missing", "open", "The system cannot find the file specified.", FILE_NOT_FOUND)
    if write and "not_elevated" in _state.scenarios():
        return error("not_elevated", "open", "Access is denied.", ACCESS_DENIED)
    return None


def clean_thumbprint(value: str) -> str:
    cleaned = re.sub(r"[^0-9A-Fa-f]", "", value).upper()
    if len(cleaned) != 40:
        raise ValueError(value)
    return cleaned


# -- the scripts ----------------------------------------------------------------------------------
def store_exists(p: dict[str, Any]) -> dict[str, Any]:
    scenarios = _state.scenarios()
    if "store_open_denied" in scenarios:
        return error("not_elevated", "open", "Access is denied.", ACCESS_DENIED)
    if "cert_drive_missing" in scenarios:
        # Opening failed with something other than "not found", and the Cert: drive is not there to ask.
        return error("error", "open", "The handle is invalid.", -2147024890)
    exists = _state.store_exists(p["StoreName"])
    return {
        "status": "ok",
        "store": p["StoreName"],
        "exists": exists,
        "detail": "" if exists else "The system cannot find the file specified.",
        "hresult": 0 if exists else FILE_NOT_FOUND,
    }


def import_pfx(p: dict[str, Any]) -> dict[str, Any]:
    _crypto()
    scenarios = _state.scenarios()
    password = os.environ.get(_state.PASSWORD_ENV)
    received = password is not None
    path = Path(p["FilePath"])
    if not path.is_file():
        return {
            "status": "file_not_found",
            "message": f"Cannot find the PFX file '{path}'.",
            "password_received": received,
        }
    refused = open_store(p["StoreName"], write=True)
    if refused:
        return {**refused, "password_received": received}
    if "import_error" in scenarios:
        return error(
            "error", "import", "An internal error occurred.", -2146885628, password_received=received
        )
    if "wrong_password" in scenarios:
        return error(
            "wrong_password",
            "import",
            "The specified network password is not correct.",
            INVALID_PASSWORD,
            password_received=received,
        )
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(path.read_bytes(), (password or "").encode())
    except ValueError:
        return error(
            "wrong_password",
            "import",
            "The specified network password is not correct.",
            INVALID_PASSWORD,
            password_received=received,
        )
    if key is None or cert is None or "no_key" in scenarios:
        count = len(extra) + (1 if cert is not None else 0)
        return {
            "status": "no_private_key",
            "message": "The PFX holds no certificate with a private key.",
            "certificates_in_file": count,
            "password_received": received,
        }
    thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()
    target = _state.store_dir(p["StoreName"]) / f"{thumbprint}.json"
    already = target.exists()
    cng = "cng" in scenarios
    entry = {
        "der": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
        "has_key": True,
        "key_pem": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        "exportable": bool(p.get("Exportable", False)),
        "key_kind": "CNG" if cng else "CryptoAPI",
        "key_provider": "Microsoft Software Key Storage Provider"
        if cng
        else "Microsoft Enhanced RSA and AES Cryptographic Provider",
    }
    # Present with a working key (the key test signs): kept as it is, never added again; present with a key
    # that fails the key test (no key material here, or keyset_missing): re-imported with the PFX's key.
    present = json.loads(target.read_text(encoding="utf-8")) if already else {}
    keeps = bool(present.get("has_key") and present.get("key_pem")) and "keyset_missing" not in scenarios
    if keeps:
        entry = present
    else:
        target.write_text(json.dumps(entry), encoding="utf-8")
        _mirror(p["StoreName"], thumbprint, cert, entry["key_pem"])
    added = [] if already else [f"{p['StoreName']}\\{thumbprint}"]
    # The chain: intermediates into LocalMachine\CA, self-signed roots reported and never added.
    chain_added, chain_present, roots = [], [], []
    ca = _state.store_dir("CA")
    ca.mkdir(parents=True, exist_ok=True)
    for other in extra:
        other_thumb = other.fingerprint(hashes.SHA1()).hex().upper()
        if other.subject == other.issuer:
            roots.append({"thumbprint": other_thumb, "subject": windows_subject(other.subject)})
            continue
        path_ca = ca / f"{other_thumb}.json"
        if path_ca.exists():
            chain_present.append(other_thumb)
            continue
        der = base64.b64encode(other.public_bytes(serialization.Encoding.DER)).decode()
        path_ca.write_text(json.dumps({"der": der, "has_key": False}), encoding="utf-8")
        _mirror("CA", other_thumb, other, None, keyless=True)
        chain_added.append(other_thumb)
    if "readback_without_key" in scenarios:
        # The store holds the certificate without its key: the script removes what it added, and the key.
        removed = added + [f"CA\\{t}" for t in chain_added]
        for item in removed:
            name, thumb = item.split("\\")
            (_state.store_dir(name) / f"{thumb}.json").unlink(missing_ok=True)
            _mirror(name, thumb, None, None)
        return {
            "status": "no_private_key",
            "message": "The store holds the certificate without its private key.",
            "certificates_in_file": 1 + len(extra),
            "password_received": received,
            "cleanup": {
                "removed": removed,
                "keys_deleted": 0 if already else 1,
                "keys_kept": [thumbprint] if already else [],
                "left_behind": [f"key of {thumbprint}"]
                if "cleanup_fails" in scenarios and not already
                else [],
            },
        }
    return {
        "status": "ok",
        "certificate": describe(entry, p["StoreName"], with_key=True),
        "imported_thumbprints": [thumbprint],
        "already_present": already,
        "present_kept": [thumbprint] if already and keeps else [],
        "present_reimported": [thumbprint] if already and not keeps else [],
        "unused_keys_deleted": 1 if already and keeps else 0,
        "other_certificates": len(extra),
        "chain_added": chain_added,
        "chain_present": chain_present,
        "roots_not_added": roots,
        "exportable_requested": bool(p.get("Exportable", False)),
    }


def get_certificate(p: dict[str, Any]) -> dict[str, Any]:
    thumbprint = clean_thumbprint(p["Thumbprint"])
    refused = open_store(p["StoreName"], write=False)
    if refused:
        return refused
    entry = _state.stored(p["StoreName"], thumbprint)
    if entry is None:
        return {"status": "not_found", "store": p["StoreName"], "thumbprint": thumbprint}
    return {"status": "ok", "certificate": describe(entry, p["StoreName"], with_key=True)}


def list_certificates(p: dict[str, Any]) -> dict[str, Any]:
    refused = open_store(p["StoreName"], write=False)
    if refused:
        return refused
    found = []
    for path in sorted(_state.store_dir(p["StoreName"]).glob("*.json")):
        entry = json.loads(path.read_text(encoding="utf-8"))
        if entry.get("has_key"):
            found.append(describe(entry, p["StoreName"], with_key=False))
    return {"status": "ok", "store": p["StoreName"], "certificates": found}


def test_private_key(p: dict[str, Any]) -> dict[str, Any]:
    _crypto()
    thumbprint = clean_thumbprint(p["Thumbprint"])
    refused = open_store(p["StoreName"], write=False)
    if refused:
        return refused
    entry = _state.stored(p["StoreName"], thumbprint)
    if entry is None:
        return {"status": "not_found", "store": p["StoreName"], "thumbprint": thumbprint}
    if not entry.get("has_key"):
        return {"status": "no_private_key", "message": "The certificate has no private key."}
    if "keyset_missing" in _state.scenarios() or not entry.get("key_pem"):
        return error("key_not_accessible", "open-key", "Keyset does not exist", BAD_KEYSET)
    if "key_bad_provider_type" in _state.scenarios():
        # .NET fell back to .PrivateKey for a CNG key it could not open through CNG.
        return error("key_not_accessible", "open-key", "Invalid provider type specified.", BAD_PROV_TYPE)
    if "key_no_handle" in _state.scenarios():
        return {
            **error(
                "key_not_accessible",
                "open-key",
                "Value cannot be null.\r\nParameter name: keyHandle",
                E_POINTER,
            ),
            "exception_type": "System.ArgumentNullException",
        }
    key = serialization.load_pem_private_key(entry["key_pem"].encode(), None)
    if "verify_failed" in _state.scenarios():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = x509.load_der_x509_certificate(base64.b64decode(entry["der"])).public_key()
    data = bytes(range(1, 33))
    verified = True
    try:
        if isinstance(key, rsa.RSAPrivateKey) and isinstance(public, rsa.RSAPublicKey):
            public.verify(
                key.sign(data, padding.PKCS1v15(), hashes.SHA256()), data, padding.PKCS1v15(), hashes.SHA256()
            )
        elif isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(key.sign(data, ec.ECDSA(hashes.SHA256())), data, ec.ECDSA(hashes.SHA256()))
        else:
            verified = False
    except Exception:
        verified = False
    return {
        "status": "ok" if verified else "verify_failed",
        "thumbprint": thumbprint,
        **key_description(entry),
        "hash": "SHA256",
        "signed_bytes": 32,
    }


def remove_certificate(p: dict[str, Any]) -> dict[str, Any]:
    thumbprint = clean_thumbprint(p["Thumbprint"])
    refused = open_store(p["StoreName"], write=True)
    if refused:
        return refused
    path = _state.store_dir(p["StoreName"]) / f"{thumbprint}.json"
    if not path.exists():
        return {"status": "not_found", "store": p["StoreName"], "thumbprint": thumbprint}
    path.unlink()
    _mirror(p["StoreName"], thumbprint, None, None)
    return {"status": "ok", "thumbprint": thumbprint, "key_deleted": True, "key_detail": ""}


def _mirror(store: str, thumbprint: str, cert: Any, key_pem: str | None, *, keyless: bool = False) -> None:
    """With FAKE_MIRROR_STORES set, keep a sandbox-layout copy of the store (PEM + 0600 key), so the
    sandbox's HTTP.sys stand-in and TLS portal serve what this stand-in PowerShell imported."""
    _crypto()
    mirror = os.environ.get("FAKE_MIRROR_STORES")
    if not mirror:
        return
    folder = Path(mirror) / store
    if not folder.is_dir():
        return
    if cert is None:
        for suffix in (".pem", ".key"):
            (folder / f"{thumbprint}{suffix}").unlink(missing_ok=True)
        return
    (folder / f"{thumbprint}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if keyless:
        return
    key_path = folder / f"{thumbprint}.key"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key_pem or "")


def host_info(p: dict[str, Any]) -> dict[str, Any]:
    scenarios = _state.scenarios()
    build = 14393 if "windows_2016" in scenarios else 17763
    return {
        "status": "ok",
        "elevated": "not_elevated" not in scenarios,
        "windows_build": build,
        "registry_build": build,
        "os_version": f"10.0.{build}.0",
        "os_caption": "Windows Server 2016 Datacenter"
        if build == 14393
        else "Windows Server 2019 Datacenter",
        "computer_name": "OCTO-WIN01",
        "user": "OCTO-WIN01\\Administrator",
        "ps_version": "5.1.17763.592",
        "ps_edition": "Desktop",
        "language_mode": "FullLanguage",
        "dotnet_release": 379893 if "dotnet_452" in scenarios else 528049,
    } | (
        # Constrained Language Mode: only what the script reads without .NET calls.
        {"elevated": None, "os_version": "", "language_mode": "ConstrainedLanguage"}
        if "constrained_language" in scenarios
        else {}
    )


def find_server_exe(p: dict[str, Any]) -> dict[str, Any]:
    default = "C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe"
    if "server_exe_missing" in _state.scenarios():
        return {
            "status": "ok",
            "path": default,
            "source": "default",
            "exists": False,
            "install_location": "",
            "candidates": [default],
        }
    exe = os.environ["FAKE_OCTOPUS_SERVER_EXE"]
    return {
        "status": "ok",
        "path": exe,
        "source": "registry",
        "exists": True,
        "install_location": str(Path(exe).parent),
        "candidates": [exe, default],
    }


SCRIPTS = {
    "store-exists.ps1": store_exists,
    "import-pfx.ps1": import_pfx,
    "get-certificate.ps1": get_certificate,
    "list-certificates.ps1": list_certificates,
    "test-private-key.ps1": test_private_key,
    "remove-certificate.ps1": remove_certificate,
    "host-info.ps1": host_info,
    "find-server-exe.ps1": find_server_exe,
    "protect-state-folder.ps1": protect_state_folder,
}


def emit(result: dict[str, Any]) -> None:
    scenarios = _state.scenarios()
    text = json.dumps(result, separators=(",", ":"), ensure_ascii=True)  # the scripts print ASCII only
    if "ps51_dates" in scenarios:
        # JavaScriptSerializer: "\/Date(..)\/", and ' < > & as \u0027 \u003c \u003e \u0026
        text = text.replace("/Date(", "\\/Date(").replace(")/", ")\\/")
        for char, escaped in (("'", "\\u0027"), ("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
            text = text.replace(char, escaped)
    out = text + "\r\n"
    if "garbage_before_json" in scenarios:
        out = (
            "WARNING: The names of some imported commands {Get-Thing} include unapproved verbs.\r\n"
            "Loading personal and system profiles took 812ms. {\r\n" + out + "PS>\r\n"
        )
    data = out.encode("utf-8")
    if "utf8_bom" in scenarios:
        data = b"\xef\xbb\xbf" + data
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    _state.log_call("powershell", argv)
    if argv[: len(EXPECTED_OPTIONS)] != EXPECTED_OPTIONS or len(argv) <= len(EXPECTED_OPTIONS):
        sys.stderr.write(f"fake powershell: unexpected options {argv!r}\n")
        return 64
    script = Path(argv[len(EXPECTED_OPTIONS)])
    if not script.is_absolute() or not script.is_file() or not (script.parent / "_common.ps1").is_file():
        sys.stderr.write(f"The argument '{script}' to the -File parameter does not exist.\n")
        return 64
    handler = SCRIPTS.get(script.name)
    if handler is None:
        sys.stderr.write(f"fake powershell: no stand-in for {script.name}\n")
        return 64
    if "no_json" in _state.scenarios():
        sys.stderr.write(
            f"File {script} cannot be loaded because running scripts is disabled on this system.\r\n"
            "    + CategoryInfo          : SecurityError: (:) [], ParentContainsErrorRecordException\r\n"
            "    + FullyQualifiedErrorId : UnauthorizedAccess\r\n"
        )
        return 1
    try:
        params = bind(script, argv[len(EXPECTED_OPTIONS) + 1 :])
    except Refused as exc:
        sys.stderr.write(f"{script.name} : {exc}\r\n")
        return 1
    try:
        result = handler(params)
    except ValueError as exc:
        result = {
            "status": "error",
            "phase": "start",
            "message": f"Invalid thumbprint '{exc}'.",
            "hresult": -2146233087,
        }
    emit(result)
    return 0 if result.get("status") == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
