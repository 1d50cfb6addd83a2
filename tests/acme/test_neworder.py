"""The new-order request as the CA receives it: the profile the CA's directory offers (``meta.profiles``)
is sent, with and without ``replaces``; a CA that answers ``alreadyReplaced`` gets the order again without
``replaces`` and the run says so (``ACME_REPLACES_REFUSED``). Pebble 2.6 lists no profiles, so a scripted
CA (:mod:`tests.acme.fake_ca`) keeps each JWS payload it is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import josepy
import pytest
from acme import client, crypto_util, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from octorunbook.acme.neworder import new_order, require_profile
from octorunbook.params.core import Parameters
from octorunbook.runbooks.run import Run, TextReporter
from tests.acme.fake_ca import FakeCa, fake_ca

REPLACED = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


@pytest.fixture
def ca(tmp_path: Path) -> Any:
    with fake_ca(tmp_path) as started:
        started.profiles = {"classic": "the old one", "shortlived": "160 hours"}
        yield started


def ordering(ca: FakeCa, replaces: str = "") -> tuple[Run, Any, bytes]:
    """A 04 run with ``acme_profile: shortlived``, a client with an account at ``ca``, and a CSR."""
    params = Parameters(
        certificate_source="acme",
        acme_directory=ca.directory,
        acme_ca_bundle=ca.bundle,
        acme_profile="shortlived",
    )
    run = Run("04-renew-certificate", params, TextReporter())
    if replaces:
        run.state["acme_replaces"] = replaces
    account_key = josepy.JWKRSA(key=rsa.generate_private_key(65537, 2048))
    net = client.ClientNetwork(account_key, verify_ssl=ca.bundle)
    net.account = messages.RegistrationResource(
        uri=ca.directory.replace("/dir", "/account/1"), body=messages.Registration()
    )
    acme = client.ClientV2(client.ClientV2.get_directory(ca.directory, net), net)
    key_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return run, acme, crypto_util.make_csr(key_pem, ["portal.example.com"])


def test_an_offered_profile_is_sent_in_the_new_order(ca: FakeCa) -> None:
    run, acme, csr = ordering(ca)
    require_profile(run, acme.directory)
    assert run.extra["acme"]["profiles_offered"] == ["classic", "shortlived"]
    new_order(run, acme, csr)
    (order,) = ca.orders
    assert order["profile"] == "shortlived" and "replaces" not in order
    assert order["identifiers"] == [{"type": "dns", "value": "portal.example.com"}]


def test_the_profile_is_sent_beside_replaces(ca: FakeCa) -> None:
    run, acme, csr = ordering(ca, replaces=REPLACED)
    new_order(run, acme, csr)
    (order,) = ca.orders
    assert order["profile"] == "shortlived" and order["replaces"] == REPLACED
    assert run.extra["acme"]["replaces"] == REPLACED
    assert "ACME_REPLACES_REFUSED" not in [f.code for f in run.findings]


def test_already_replaced_is_a_warning_and_the_order_is_made_again_without_replaces(ca: FakeCa) -> None:
    ca.refuse_replaces = True
    run, acme, csr = ordering(ca, replaces=REPLACED)
    order = new_order(run, acme, csr)
    assert order.uri.endswith("/order/2")
    first, again = ca.orders
    assert first["replaces"] == REPLACED and first["profile"] == "shortlived"
    assert "replaces" not in again and again["profile"] == "shortlived"
    (refused,) = [f for f in run.findings if f.code == "ACME_REPLACES_REFUSED"]
    assert refused.severity == "warning"
    assert run.extra["acme"]["replaces"] == "" and "alreadyReplaced" in run.extra["acme"]["replaces_refused"]


@pytest.mark.parametrize(
    "problem",
    [
        # Pebble 2.6 (letsencrypt/pebble#550): a serial whose DER form starts with 00 is not found
        (500, "serverInternal", "could not find an order for the given certificate: could not find order"),
        (403, "unauthorized", "the certificate was issued to another account"),
        (409, "conflict", "the certificate has already been replaced"),
    ],
    ids=["pebble-serial-lookup", "another-account", "boulder-conflict"],
)
def test_a_ca_that_cannot_link_the_replaced_certificate_gets_the_order_again_without_replaces(
    ca: FakeCa, problem: tuple[int, str, str]
) -> None:
    ca.refuse_replaces, ca.replaces_problem = True, problem
    run, acme, csr = ordering(ca, replaces=REPLACED)
    assert new_order(run, acme, csr).uri.endswith("/order/2")
    first, again = ca.orders
    assert first["replaces"] == REPLACED and "replaces" not in again
    (refused,) = [f for f in run.findings if f.code == "ACME_REPLACES_REFUSED"]
    if problem[0] == 409:  # the library raises ConflictError on the status, before it reads the problem
        assert "HTTP 409 Conflict" in refused.message
    else:
        assert problem[1] in refused.message and problem[2][:40] in refused.message


def test_a_refusal_that_is_not_about_the_link_fails_the_order_and_nothing_is_sent_again(ca: FakeCa) -> None:
    ca.refuse_replaces, ca.replaces_problem = True, (429, "rateLimited", "too many new orders recently")
    run, acme, csr = ordering(ca, replaces=REPLACED)
    with pytest.raises(messages.Error) as raised:
        new_order(run, acme, csr)
    assert raised.value.code == "rateLimited"
    assert len(ca.orders) == 1 and "ACME_REPLACES_REFUSED" not in [f.code for f in run.findings]
