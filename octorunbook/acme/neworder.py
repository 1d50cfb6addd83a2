"""The new-order request: the certificate profile (draft-ietf-acme-profiles) and ``replaces`` (RFC 9773).

* **Profile** (``acme_profile``): the CA's directory lists the profiles it offers in ``meta.profiles``
  (Let's Encrypt: ``classic``, ``tlsserver``, ``shortlived``). A name it does not list is
  ``ACME_PROFILE_UNSUPPORTED`` before anything is ordered (no account is registered, no order made): a
  CA that silently ignored the name would issue a certificate of another lifetime than the one planned.
* **replaces**: a renewal that ARI found due names the certificate it replaces (its RFC 9773 certID), so
  the CA can link the two (Let's Encrypt exempts such orders from rate limits). A CA that refuses the
  link (the certificate already has a replacement: a renewal rolled back after its order; another
  account's certificate; a CA that cannot find it) gets the order again without it, and a warning says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from octorunbook.acme.errors import retry_bad_nonce
from octorunbook.findings import Finding, TargetError

if TYPE_CHECKING:
    from octorunbook.runbooks.run import Run


def offered_profiles(directory: Any) -> dict[str, str]:
    """``meta.profiles`` of the CA's directory: name -> description (empty when it lists none)."""
    profiles = getattr(getattr(directory, "meta", None), "profiles", None)
    return {str(k): str(v) for k, v in (profiles or {}).items()}


def require_profile(run: Run, directory: Any) -> None:
    """``acme_profile`` must be one the CA lists (empty: the CA's default); recorded in the summary."""
    name = run.params.acme_profile
    if not name:
        return
    offered = offered_profiles(directory)
    summary = run.extra.setdefault("acme", {})
    summary["profile"] = name
    summary["profiles_offered"] = sorted(offered)
    if name not in offered:
        listed = ", ".join(sorted(offered)) or "none (its directory has no meta.profiles)"
        raise TargetError(
            "ACME_PROFILE_UNSUPPORTED",
            f"The CA at {run.params.acme_directory_url} does not offer the profile {name!r}; it offers: "
            f"{listed}. Nothing was ordered.",
            "Choose one of the offered profiles in acme_profile, or leave it empty for the CA's default.",
        )


def _replacing_order(acme: Any, csr_pem: bytes, profile: str, replaces: str) -> tuple[Any, str | None]:
    """The newOrder request of ``ClientV2.new_order`` with ``replaces`` in it (the library has no such
    field): the order and its URL. Its authorizations are fetched apart (:func:`_with_authorizations`), so
    that an error fetching them is never read as the CA refusing ``replaces``."""
    from acme import crypto_util, messages
    from cryptography import x509
    from josepy.json_util import field

    class NewOrderReplacing(messages.NewOrder):
        replaces: str | None = field("replaces", omitempty=True)

    csr = x509.load_pem_x509_csr(csr_pem)
    dns_names, ips = crypto_util.get_identifiers_from_x509(csr.subject, csr.extensions)
    identifiers = [messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=n) for n in dns_names]
    identifiers += [messages.Identifier(typ=messages.IDENTIFIER_IP, value=str(ip)) for ip in ips]
    body = NewOrderReplacing(identifiers=tuple(identifiers), profile=profile or None, replaces=replaces)
    response = acme._post(acme.directory["newOrder"], body)
    return messages.Order.from_json(response.json()), response.headers.get("Location")


def _with_authorizations(acme: Any, order: Any, uri: str | None, csr_pem: bytes) -> Any:
    """The order made by :func:`_replacing_order` as ``ClientV2.new_order`` returns one."""
    from acme import messages

    authorizations = [
        acme._authzr_from_response(acme._post_as_get(url), uri=url) for url in order.authorizations
    ]
    return messages.OrderResource(body=order, uri=uri, authorizations=authorizations, csr_pem=csr_pem)


# The problems a CA has answered a replacing order with when it would not (or could not) link it to the
# certificate named; the order is made again without ``replaces``. A CA that is really failing fails the
# plain order the same way, and that error is the run's. ``serverInternal``: Pebble 2.6 looks the replaced
# certificate up by a serial spelled two ways and misses about one certificate in 256 (letsencrypt/pebble
# #550), and answers "at least one identifier must match" with it too. ``unauthorized``: the certificate
# was issued to another account. ``conflict``: Boulder's answer to an order that replaces one already
# replaced. ``badNonce`` and ``rateLimited`` are not refusals of the link and are never among them.
REPLACES_REFUSALS = frozenset({"malformed", "conflict", "serverInternal", "unauthorized"})


def new_order(run: Run, acme: Any, csr_pem: bytes) -> Any:
    """The order, with ``profile`` and (when ARI found the renewal due) ``replaces``; recorded."""
    from acme import errors, messages

    profile = run.params.acme_profile
    replaces = str(run.state.get("acme_replaces") or "")
    summary = run.extra.setdefault("acme", {})
    if profile:
        summary["profile"] = profile
    if replaces:
        summary["replaces"] = replaces
        try:
            order, uri = retry_bad_nonce(lambda: _replacing_order(acme, csr_pem, profile, replaces), run)
        except (messages.Error, errors.ConflictError) as exc:
            # RFC 9773 §5: alreadyReplaced comes with 409 Conflict, which the library raises as
            # ConflictError before it reads the problem document
            if isinstance(exc, errors.ConflictError):
                detail = "HTTP 409 Conflict: already replaced (urn:ietf:params:acme:error:alreadyReplaced)"
            elif str(exc.typ or "").endswith(":alreadyReplaced") or exc.code in REPLACES_REFUSALS:
                detail = f"{exc.code}: {exc.detail}"
            else:
                raise
            summary["replaces_refused"] = detail[:300]
            run.note(
                Finding(
                    "ACME_REPLACES_REFUSED",
                    "warning",
                    f"The CA refused to link the new order to the certificate it replaces ({detail[:200]}); "
                    "ordered again without the link.",
                    "Nothing to do: the certificate is renewed; the CA may count it against its rate limits.",
                )
            )
            summary["replaces"] = ""
        else:
            return retry_bad_nonce(lambda: _with_authorizations(acme, order, uri, csr_pem), run)
    return retry_bad_nonce(lambda: acme.new_order(csr_pem, profile or None), run)


__all__ = ["REPLACES_REFUSALS", "new_order", "offered_profiles", "require_profile"]
