"""Answering an order's authorisations: one challenge per name, registered until the CA has decided,
and recording each decision as the CA gave it.

An authorisation the CA already holds as valid (reused within its lifetime, as Let's Encrypt does for
30 days) needs no challenge. For the others the chosen challenge is registered on the target (HTTP-01)
or published through the DNS hook (DNS-01) and stays so until the caller's ``ExitStack`` closes, which
is after the CA's polling has ended — pass or fail.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from octorunbook.acme.challenges import http01_registered, preflight, run_dns_hook, wait_for_txt
from octorunbook.acme.errors import retry_bad_nonce
from octorunbook.findings import Finding, OctorunbookError, TargetError

if TYPE_CHECKING:
    from octorunbook.runbooks.run import Run


def _cleanup_dns(run: Run, domain: str, value: str) -> None:
    try:
        run_dns_hook(run, "cleanup", domain, value)
    except OctorunbookError as exc:  # the certificate may still be fine: say so, do not fail the run
        run.note(Finding("ACME_DNS_CLEANUP_FAILED", "warning", exc.message, "Remove the TXT record by hand."))


def _answer(acme: Any, chall: Any, response: Any) -> Callable[[], Any]:
    return lambda: acme.answer_challenge(chall, response)


def answer_authorizations(run: Run, acme: Any, order: Any, registered: ExitStack) -> list[dict[str, Any]]:
    from acme import challenges, messages

    wanted = challenges.HTTP01 if run.params.acme_challenge == "http-01" else challenges.DNS01
    entries: list[dict[str, Any]] = []
    for authzr in order.authorizations:
        name = authzr.body.identifier.value
        entry: dict[str, Any] = {
            "identifier": name,
            "url": authzr.uri,
            "challenge": run.params.acme_challenge,
        }
        entries.append(entry)
        if authzr.body.status == messages.STATUS_VALID:
            entry.update(status="valid", reused=True)
            continue
        chall = next((c for c in authzr.body.challenges if isinstance(c.chall, wanted)), None)
        if chall is None:
            offered = ", ".join(sorted(c.chall.typ for c in authzr.body.challenges))
            raise TargetError(
                "ACME_CHALLENGE_UNAVAILABLE",
                f"The CA does not offer {run.params.acme_challenge} for {name} (it offers: {offered}).",
                "Choose one of the offered challenge types in acme_challenge.",
            )
        response, validation = chall.response_and_validation(acme.net.key)
        if wanted is challenges.HTTP01:
            token = chall.chall.encode("token")
            registered.enter_context(http01_registered(run, token, validation))
            entry["preflight"] = "ok" if preflight(run, token, validation, name) else "failed"
        else:
            run_dns_hook(run, "present", name, validation)
            registered.callback(_cleanup_dns, run, name, validation)
            entry["dns_visible_after_seconds"] = round(wait_for_txt(run, name, validation), 2)
        retry_bad_nonce(_answer(acme, chall, response), run)
        entry["status"] = "pending"
    return entries


def await_authorizations(
    run: Run, acme: Any, order: Any, summary: dict[str, Any], deadline: datetime.datetime
) -> Any:
    """Poll until the CA has decided every authorisation; ``summary["authorizations"]`` then holds,
    pass or fail, each one's status and the CA's own error as the CA last gave them.

    The authorisations the CA returned while it was polled *are* its decision (the library hands the
    failed ones back in its ``ValidationError``); only those it did not return (a valid one beside a
    failed one, or every one after a timeout) are asked for again, with the ``badNonce`` retries every
    other request has. Asking again without them lost the answer whenever the CA refused two nonces
    in a row (pebble refuses 5 % of good ones on purpose; the library retries once), and the record
    then kept the ``pending`` written when the challenge was answered, for an authorisation the CA had
    already declared invalid. One that still cannot be read is ``unknown``, with the reason.
    """
    from acme import errors

    decided: list[Any] = []
    try:
        order = retry_bad_nonce(lambda: acme.poll_authorizations(order, deadline), run)
        decided = list(order.authorizations)
        return order
    except errors.ValidationError as exc:
        decided = list(exc.failed_authzrs)
        raise
    finally:
        summary["authorizations"] = _decisions(run, acme, order, summary["authorizations"], decided)


def _poll(acme: Any, authzr: Any) -> Callable[[], Any]:
    return lambda: acme.poll(authzr)[0]


def _decisions(
    run: Run, acme: Any, order: Any, answered: list[dict[str, Any]], decided: list[Any]
) -> list[dict[str, Any]]:
    import requests
    from acme import errors, messages

    known = {authzr.uri: authzr for authzr in decided}
    by_url = {authzr.uri: authzr for authzr in order.authorizations}
    results = []
    for entry in answered:
        authzr = known.get(entry["url"])
        if authzr is None:
            try:
                authzr = retry_bad_nonce(_poll(acme, by_url[entry["url"]]), run)
            except (messages.Error, errors.Error, requests.exceptions.RequestException) as exc:
                reason = f"{type(exc).__name__}: {exc}"[:300]
                results.append({**entry, "status": "unknown", "unknown_because": reason})
                continue
        problems = [
            f"{c.error.code}: {c.error.detail}" for c in authzr.body.challenges if c.error is not None
        ]
        results.append(
            {**entry, "status": authzr.body.status.name, **({"errors": problems} if problems else {})}
        )
    return results


__all__ = ["answer_authorizations", "await_authorizations"]
