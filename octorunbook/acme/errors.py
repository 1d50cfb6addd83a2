"""ACME failures as our coded errors: problem documents (RFC 8555 §6.7, RFC 7807), validation failures,
timeouts, TLS and network errors — each a stable ``ACME_*`` code with a remedy, never a traceback.
``badNonce`` is the CA asking for a retry (RFC 8555 §6.5): the library retries once, :func:`retry_bad_nonce`
retries the whole call up to three times and counts it for the record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from octorunbook.findings import InputError, OctorunbookError, TargetError

if TYPE_CHECKING:
    from octorunbook.runbooks.run import Run

T = TypeVar("T")

# RFC 8555 §6.7 problem types (urn:ietf:params:acme:error:<type>) -> (code, remedy).
PROBLEM_CODES: dict[str, tuple[str, str]] = {
    "rateLimited": (
        "ACME_RATE_LIMITED",
        "The CA's rate limit was hit: wait until the time the CA names (Let's Encrypt: 5 duplicate "
        "certificates a week) and rehearse against acme_directory: staging meanwhile.",
    ),
    "badNonce": ("ACME_BAD_NONCE", "The CA kept refusing fresh nonces; run again in a minute."),
    "unauthorized": (
        "ACME_UNAUTHORIZED",
        "The CA refused this account for the names (CAA record, policy, or a failed validation): read "
        "the CA's detail.",
    ),
    "dns": ("ACME_DNS", "The CA could not resolve the name: check its public DNS records."),
    "connection": (
        "ACME_CHALLENGE_FAILED",
        "The CA could not connect: port 80 must be reachable from the internet (or use dns-01).",
    ),
    "rejectedIdentifier": (
        "ACME_REJECTED_IDENTIFIER",
        "The CA does not issue for this name (internal names, IP addresses): use a public DNS name.",
    ),
    "caa": ("ACME_CAA", "A CAA DNS record forbids this CA: add the CA to the domain's CAA records."),
    "accountDoesNotExist": (
        "ACME_ACCOUNT_NOT_FOUND",
        "The stored account is gone at the CA: delete the account folder named in the message to "
        "register a new one.",
    ),
    "externalAccountRequired": (
        "ACME_ACCOUNT_EAB_REQUIRED",
        "This CA requires external account binding: set acme_eab_kid and acme_eab_hmac_env.",
    ),
    "invalidContact": ("ACME_ACCOUNT_CONTACT_INVALID", "Fix acme_email (the CA refused it)."),
    "userActionRequired": (
        "ACME_ACCOUNT_ACTION_REQUIRED",
        "The CA requires an action on the account (new terms of service): follow the URL in its detail.",
    ),
    "badCSR": ("ACME_BAD_CSR", "The CA refused the request: check key_type and the names."),
    "malformed": ("ACME_PROTOCOL", "The CA refused a request as malformed; report it with the record."),
    "serverInternal": ("ACME_CA_ERROR", "The CA had an internal error: run again later."),
}


def problem_error(error: Any) -> OctorunbookError:
    """An RFC 7807 problem document (``acme.messages.Error``) as a coded error."""
    kind = str(getattr(error, "code", "") or "")
    code, remedy = PROBLEM_CODES.get(kind, ("ACME_PROTOCOL", "Read the CA's detail; report it if unclear."))
    detail = str(getattr(error, "detail", "") or error)
    return TargetError(code, f"The ACME CA answered {kind or 'an error'}: {detail}", remedy)


@contextmanager
def acme_errors(directory: str) -> Iterator[None]:
    """Every failure of the library or the network as one of our coded errors (never a traceback)."""
    import requests
    from acme import errors, messages

    try:
        yield
    except OctorunbookError:
        raise
    except messages.Error as exc:
        raise problem_error(exc) from None
    except errors.ValidationError as exc:
        raise challenge_failed(exc.failed_authzrs) from None
    except errors.TimeoutError:
        raise TargetError(
            "ACME_TIMEOUT",
            "The CA did not finish validating or issuing in time.",
            "Run again; raise OCTORUNBOOK_ACME_ORDER_SECONDS for a slow CA. Nothing was changed.",
        ) from None
    except requests.exceptions.SSLError as exc:
        raise TargetError(
            "ACME_CA_UNTRUSTED",
            f"The TLS certificate of {directory} is not trusted: {exc}",
            "For a private ACME CA set acme_ca_bundle to the PEM file of the root that issued its API "
            "certificate.",
        ) from None
    except requests.exceptions.RequestException as exc:
        raise TargetError(
            "ACME_UNREACHABLE",
            f"The ACME directory {directory} cannot be reached: {type(exc).__name__}: {exc}",
            "Check the URL, DNS and outbound HTTPS (proxy, firewall) from this server. Nothing was changed.",
        ) from None
    except (
        OSError
    ) as exc:  # after requests' own (they are OSErrors too): a CA bundle path requests cannot use
        raise InputError(
            "CA_BUNDLE_UNREADABLE",
            f"The CA bundle for {directory} cannot be used: {exc}",
            "Give acme_ca_bundle (check: --acme-ca-bundle) the path of a PEM file of the root that issued "
            "the CA's API certificate. Nothing was changed.",
        ) from None
    except errors.Error as exc:
        raise TargetError("ACME_PROTOCOL", f"ACME client error: {type(exc).__name__}: {exc}", "") from None


def challenge_failed(authzrs: list[Any]) -> TargetError:
    details = []
    for authzr in authzrs:
        for chall in authzr.body.challenges:
            if chall.error is not None:
                details.append(f"{authzr.body.identifier.value}: {chall.error.code}: {chall.error.detail}")
    return TargetError(
        "ACME_CHALLENGE_FAILED",
        "The CA could not validate the challenge — " + "; ".join(details or ["no detail given"]),
        "http-01: port 80 of the portal hostname must reach this server from the internet (firewall, NAT, "
        "load balancer); or use dns-01. Nothing was changed on the server.",
    )


def retry_bad_nonce(call: Callable[[], T], run: Run, attempts: int = 3) -> T:
    """``badNonce`` is the CA asking for a retry (RFC 8555 §6.5); after ``attempts`` it is an error."""
    from acme import messages

    for attempt in range(1, attempts + 1):
        try:
            return call()
        except messages.Error as exc:
            if exc.code != "badNonce" or attempt == attempts:
                raise
            run.state.setdefault("acme_bad_nonce_retries", 0)
            run.state["acme_bad_nonce_retries"] += 1
    raise AssertionError("unreachable")


__all__ = ["PROBLEM_CODES", "acme_errors", "challenge_failed", "problem_error", "retry_bad_nonce"]


def refuse_signed_redirects(session: Any) -> None:
    """A redirect of a signed POST (the account's JWS, the EAB binding) to another origin is
    ``REDIRECT_REFUSED``, naming the Location, before ``requests`` would send the body on."""
    from octorunbook.evidence.deadline import refuse_cross_origin

    def check(response: Any, *args: Any, **kwargs: Any) -> Any:
        if response.is_redirect and response.request.method == "POST":
            refuse_cross_origin(response.request.url, response.headers.get("Location"))
        return response

    session.hooks.setdefault("response", []).append(check)
