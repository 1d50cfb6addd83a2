"""Exporting a :class:`LoadedCertificate` as a PFX that the target Windows can import.

The encryption is chosen for the Windows build that imports it (:func:`choose_pfx_encryption`): an old
Windows reports an AES PFX as a *wrong password*, which misleads everyone.
"""

from __future__ import annotations

from typing import Literal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from ..redaction import Secret
from .codes import error_for
from .info import LoadedCertificate
from .load import no_private_key_error

PfxEncryption = Literal["compatible", "aes", "auto"]
AES_MIN_WINDOWS_BUILD = 17763  # Windows Server 2019; 2016 (14393) cannot import PBES2/AES PFX files
PFX_KDF_ROUNDS = 50000  # a PFX an operator keeps, under a password a person chose: stretched
# The one-time PFX that carries a certificate into LocalMachine (LocalMachineStore.add) is protected by a
# random 192-bit password that exists only for that import, in a 0700 folder removed right after it:
# stretching a password nobody can guess adds nothing, and Windows (or the sandbox) pays every round again
# to open it. 2048 is OpenSSL's default (PKCS12_DEFAULT_ITER), and what its MAC uses here anyway.
ONE_TIME_PFX_KDF_ROUNDS = 2048


def choose_pfx_encryption(setting: PfxEncryption, windows_build: int | None) -> Literal["compatible", "aes"]:
    """``auto`` picks AES only where Windows is known to import it (build 17763, Server 2019, and up),
    as win-acme does: older Windows reports an AES PFX as a *wrong password*, which misleads everyone."""
    if setting == "compatible" or setting == "aes":
        return setting
    if setting != "auto":
        raise error_for("PFX_ENCRYPTION_INVALID", f"Unknown PFX encryption {setting!r}.")
    return "aes" if windows_build is not None and windows_build >= AES_MIN_WINDOWS_BUILD else "compatible"


def export_pfx(
    loaded: LoadedCertificate,
    password: Secret,
    encryption: Literal["compatible", "aes"],
    friendly_name: str = "octorunbook",
    kdf_rounds: int = PFX_KDF_ROUNDS,
) -> bytes:
    """The certificate, its key and its chain as a PFX.

    ``compatible`` is 3DES with a SHA-1 MAC: what ``Export-PfxCertificate`` writes and every Windows
    imports. ``aes`` is PBES2/AES-256 with a SHA-256 MAC, for Windows Server 2019 and later only.
    An empty password is refused: Windows ties a password-less PFX to the user who exported it.
    ``kdf_rounds``: :data:`PFX_KDF_ROUNDS` unless the password is random and used once
    (:data:`ONE_TIME_PFX_KDF_ROUNDS`).
    """
    key = loaded.private_key
    pkcs12_keys = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, dsa.DSAPrivateKey)
    if not isinstance(key, pkcs12_keys + (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        raise no_private_key_error(loaded.certificate)
    if not password:
        raise error_for(
            "PFX_PASSWORD_MISSING", "A PFX needs a non-empty password.", "Set the password variable."
        )
    if encryption not in ("compatible", "aes"):
        raise error_for("PFX_ENCRYPTION_INVALID", f"Unknown PFX encryption {encryption!r}.")
    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(kdf_rounds)
    if encryption == "compatible":
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(
            hashes.SHA1()
        )
    else:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
    protection = builder.build(password.reveal().encode("utf-8"))
    chain = list(loaded.chain) or None
    return pkcs12.serialize_key_and_certificates(
        friendly_name.encode(), key, loaded.certificate, chain, protection
    )
