"""One handshake per question, with Python's own ``ssl`` module.

Each probe pins the client to exactly one protocol version (or one TLS 1.2 cipher suite) and asks the
server to agree. The client's OpenSSL security level is lowered (``@SECLEVEL=0``) only for the legacy
probes -- TLS 1.0/1.1 and the weak suites -- because at the default level OpenSSL 3 refuses to even
offer them, and "my client would not ask" must never be reported as "the server refused".

Whether this machine's OpenSSL can offer a version or suite at all is asked first, locally, without a
network: a handshake into a memory BIO either produces a ClientHello (it can) or fails with
``NO_PROTOCOLS_AVAILABLE``/``NO_CIPHERS_AVAILABLE`` (it cannot: the probe is "not testable here").
"""

from __future__ import annotations

import ssl
import warnings
from dataclasses import dataclass
from typing import Literal

from octorunbook.evidence.deadline import Deadline, DeadlineExceeded
from octorunbook.evidence.tls import sni_for, unverified_context

Outcome = Literal["accepted", "rejected", "untestable"]


@dataclass(frozen=True)
class Protocol:
    label: str  # as operators and SCHANNEL's registry name it: "TLS 1.0"
    version: ssl.TLSVersion
    legacy: bool


@dataclass(frozen=True)
class Suite:
    openssl: str  # OpenSSL's name, what set_ciphers() takes
    iana: str  # the RFC name, which SCHANNEL and auditors use
    weak: bool
    why: str = ""


with warnings.catch_warnings():  # ssl.TLSVersion.TLSv1/TLSv1_1 are deprecated: probing them is the point
    warnings.simplefilter("ignore", DeprecationWarning)
    PROTOCOLS: tuple[Protocol, ...] = (
        Protocol("TLS 1.0", ssl.TLSVersion.TLSv1, True),
        Protocol("TLS 1.1", ssl.TLSVersion.TLSv1_1, True),
        Protocol("TLS 1.2", ssl.TLSVersion.TLSv1_2, False),
        Protocol("TLS 1.3", ssl.TLSVersion.TLSv1_3, False),
    )

# A fixed list, not an enumeration: the weak suites an audit asks about, and the strong ones a hardened
# portal should still offer. (Full enumeration is what the optional sslyze backend is for.)
SUITES: tuple[Suite, ...] = (
    Suite("RC4-SHA", "TLS_RSA_WITH_RC4_128_SHA", True, "RC4 is broken (RFC 7465)"),
    Suite("DES-CBC3-SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA", True, "64-bit block cipher (Sweet32)"),
    Suite("NULL-SHA256", "TLS_RSA_WITH_NULL_SHA256", True, "no encryption at all"),
    Suite("AES128-SHA", "TLS_RSA_WITH_AES_128_CBC_SHA", True, "RSA key exchange: no forward secrecy"),
    Suite("AES256-SHA", "TLS_RSA_WITH_AES_256_CBC_SHA", True, "RSA key exchange: no forward secrecy"),
    Suite(
        "AES128-GCM-SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256", True, "RSA key exchange: no forward secrecy"
    ),
    Suite(
        "AES256-GCM-SHA384", "TLS_RSA_WITH_AES_256_GCM_SHA384", True, "RSA key exchange: no forward secrecy"
    ),
    Suite(
        "ECDHE-RSA-AES128-SHA", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", True, "CBC with SHA-1 (Lucky13 class)"
    ),
    Suite(
        "ECDHE-RSA-AES256-SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", True, "CBC with SHA-1 (Lucky13 class)"
    ),
    Suite("ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", False),
    Suite("ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", False),
    Suite("ECDHE-RSA-CHACHA20-POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", False),
    Suite("ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", False),
    Suite("ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", False),
)


@dataclass(frozen=True)
class ProbeResult:
    outcome: Outcome
    detail: str  # the negotiated version/suite, the server's answer, or why it was not testable
    der: bytes | None = None


def reason(exc: ssl.SSLError) -> str:
    """OpenSSL's short reason (``NO_SHARED_CIPHER``) where there is one, else the message."""
    return str(getattr(exc, "reason", None) or (exc.args[-1] if exc.args else exc))


def protocol_context(protocol: Protocol) -> ssl.SSLContext:
    context = unverified_context()
    # Legacy versions only: lower the security level so this client will offer them at all. TLS 1.2 uses
    # OpenSSL's DEFAULT list (not Python's, which drops SHA-1 suites: a portal offering only those still
    # speaks TLS 1.2, and the suite rows say what is wrong with it).
    context.set_ciphers("ALL:@SECLEVEL=0" if protocol.legacy else "DEFAULT")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = protocol.version
        context.maximum_version = protocol.version
    return context


def suite_context(suite: Suite) -> ssl.SSLContext:
    """Raises ssl.SSLError when this OpenSSL has no such suite (RC4 and 3DES are gone from OpenSSL 3's default
    provider, for instance)."""
    context = unverified_context()
    context.set_ciphers(f"{suite.openssl}:@SECLEVEL=0" if suite.weak else suite.openssl)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


def local_refusal(context: ssl.SSLContext) -> str:
    """Why this machine's OpenSSL cannot offer what ``context`` asks for ("" when it can)."""
    engine = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=False)
    try:
        engine.do_handshake()
    except ssl.SSLWantReadError:
        return ""  # a ClientHello was written: this client can ask
    except ssl.SSLError as exc:
        return f"the local OpenSSL ({ssl.OPENSSL_VERSION}) cannot offer it: {reason(exc)}"
    return ""  # pragma: no cover - a handshake cannot complete without a peer


def handshake(
    address: str, port: int, sni: str, context: ssl.SSLContext, timeout: float | Deadline
) -> ProbeResult:
    """One TLS handshake: accepted (with what was negotiated) or rejected (with the server's answer).

    Connect and handshake end at ``timeout``: seconds (a server that never answers this hello rejected
    it), or the caller's whole :class:`Deadline`, whose end raises ``NETWORK_TIMEOUT``."""
    refusal = local_refusal(context)
    if refusal:
        return ProbeResult("untestable", refusal)
    deadline = Deadline.of(timeout, f"the TLS handshake with {address}:{port}")
    try:
        with deadline.connect(address, port) as raw:
            with deadline.wrap(context, raw, sni_for(sni)) as tls:
                cipher = tls.cipher()
                detail = f"{tls.version()} {cipher[0] if cipher else ''}".strip()
                return ProbeResult("accepted", detail, tls.getpeercert(binary_form=True))
    except DeadlineExceeded:
        if isinstance(timeout, Deadline):  # the caller's whole budget is spent: no answer, no verdict
            raise
        return ProbeResult("rejected", f"no handshake within {timeout:g} s")
    except ssl.SSLCertVerificationError as exc:
        return ProbeResult("rejected", exc.verify_message or str(exc))
    except ssl.SSLEOFError:
        return ProbeResult("rejected", "connection closed during the handshake")
    except ssl.SSLError as exc:
        return ProbeResult("rejected", f"handshake refused ({reason(exc)})")
    except (ConnectionResetError, BrokenPipeError):
        return ProbeResult("rejected", "connection reset during the handshake")
    except OSError as exc:
        return ProbeResult("rejected", f"connection failed ({exc.strerror or exc})")


def trust_context(bundle_pem: str | None) -> ssl.SSLContext:
    """Verification as clients do it: the system store, or only the operator's bundle.

    With a bundle, a chain that ends at any certificate in it is accepted (partial chain): operators hand us
    "the chain my clients trust", which may be an intermediate rather than a root.
    """
    context = ssl.create_default_context(cadata=bundle_pem)
    context.check_hostname = False  # the hostname has its own row
    if bundle_pem is not None:
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context
