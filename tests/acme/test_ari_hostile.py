"""A hostile or broken CA behind ``check --acme-directory``: the renewalInfo answer is data from the
network. An answer that is not a readable window (garbage JSON, a window out of the calendar's range, a
Retry-After no clock can hold) is ``ACME_ARI_UNAVAILABLE`` beside the expiry verdict, never an internal
error that throws the verdict away. Served over real TLS on loopback (trustme)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from octorunbook.evidence.check_alarms import ca_alarms
from tests.tlsserver import serving

WINDOW = {"suggestedWindow": {"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"}}


class Served:
    def __init__(self, der: bytes) -> None:
        self.der = der


@pytest.fixture
def hostile_ca(tmp_path: Path) -> Iterator[Any]:
    answer: dict[str, Any] = {"body": b"{}", "headers": {}}
    ca = trustme.CA()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            port = self.server.server_address[1]
            if self.path == "/dir":
                body = json.dumps(
                    {
                        "newNonce": f"https://127.0.0.1:{port}/nonce",
                        "renewalInfo": f"https://127.0.0.1:{port}/ri",
                    }
                ).encode()
                headers: dict[str, str] = {}
            else:
                body, headers = answer["body"], answer["headers"]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    with serving(Handler, ca) as server:
        bundle = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        leaf = ca.issue_cert("octopus.example.com")
        der = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(Encoding.DER)
        yield answer, f"https://127.0.0.1:{server.server_address[1]}/dir", str(bundle), Served(der)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"not json at all", {}),
        (b'{"suggestedWindow": "tomorrow"}', {}),
        (b'{"suggestedWindow": {"start": 7, "end": []}}', {}),
        (b"[1, 2]", {}),
        (
            json.dumps(
                {"suggestedWindow": {"start": "0001-01-01T00:00:00+01:00", "end": "2026-12-02T00:00:00Z"}}
            ).encode(),
            {},
        ),
        (json.dumps(WINDOW).encode(), {"Retry-After": "9" * 40}),
    ],
    ids=["garbage", "window-a-string", "window-wrong-types", "a-list", "out-of-range", "huge-retry-after"],
)
def test_an_unreadable_renewal_info_answer_is_ari_unavailable_not_an_internal_error(
    hostile_ca: Any, body: bytes, headers: dict[str, str]
) -> None:
    answer, directory, bundle, served = hostile_ca
    answer["body"], answer["headers"] = body, headers
    alarms = ca_alarms(directory, bundle, served, 20.0)
    assert len(alarms) <= 1
    for alarm in alarms:  # a readable window with a huge Retry-After may still give its alarm
        assert alarm.code in {"ACME_ARI_UNAVAILABLE", "ACME_ARI_WINDOW_PASSED"}, alarm


def test_a_window_with_an_http_explanation_url_is_shown_without_it(hostile_ca: Any) -> None:
    answer, directory, bundle, served = hostile_ca
    answer["body"] = json.dumps({**WINDOW, "explanationURL": "http://evil.example/\nCERT OK"}).encode()
    (alarm,) = ca_alarms(directory, bundle, served, 20.0)
    assert alarm.code == "ACME_ARI_WINDOW_PASSED"
    assert "evil" not in alarm.reason and "\n" not in alarm.reason


@pytest.mark.parametrize("bundle", ["missing.pem", "not-a-bundle.pem", "a-folder"])
def test_a_ca_bundle_that_cannot_be_read_is_ari_unavailable_not_an_internal_error(
    hostile_ca: Any, tmp_path: Path, bundle: str
) -> None:
    answer, directory, _, served = hostile_ca
    answer["body"] = json.dumps(WINDOW).encode()
    (tmp_path / "not-a-bundle.pem").write_text("garbage")
    (tmp_path / "a-folder").mkdir()
    (alarm,) = ca_alarms(directory, str(tmp_path / bundle), served, 20.0)
    assert alarm.code == "ACME_ARI_UNAVAILABLE", alarm
