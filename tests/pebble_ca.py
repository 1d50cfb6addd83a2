"""A real ACME CA for tests: pebble (Let's Encrypt's RFC 8555 test server) plus pebble-challtestsrv's DNS.

``start_pebble(folder, http_port)`` starts both on loopback, on free ports:

* pebble's API on HTTPS with a throw-away certificate from a trustme CA (the bundle is what
  ``acme_ca_bundle`` points at), ``PEBBLE_VA_NOSLEEP=1`` and pebble's default ``badNonce`` rejections
  (5 % of good nonces) left on, ``httpPort`` = the sandbox portal's real HTTP port, and
  ``-dnsserver`` = challtestsrv, which answers 127.0.0.1 for every A query (AAAA off);
* challtestsrv's management API sets TXT records for DNS-01 (``set_txt`` / ``clear_txt``).

Debian 13's pebble 2.6 in ``.ci/pebble-trixie`` (``.ci/run`` unpacks it) is preferred: it serves ARI
(``renewalInfo``, RFC 9773) and checks ``replaces``; the system's 2.4 does neither (``ARI_SKIP_REASON``).

Both processes are stopped by :meth:`Pebble.stop` (the fixture calls it, pass or fail).
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from portkit import free_ports

# Debian 13's pebble 2.6 (ARI, RFC 9773), unpacked by .ci/run, is preferred over the system's (Debian 12: 2.4).
TRIXIE = Path(__file__).resolve().parents[1] / ".ci" / "pebble-trixie" / "usr" / "bin"


def _binary(name: str) -> str | None:
    local = TRIXIE / name
    return str(local) if os.access(local, os.X_OK) else shutil.which(name)


PEBBLE, CHALLTESTSRV = _binary("pebble"), _binary("pebble-challtestsrv")
MISSING = [name for name, path in (("pebble", PEBBLE), ("pebble-challtestsrv", CHALLTESTSRV)) if path is None]
SKIP_REASON = (
    f"{' and '.join(MISSING)} not installed (Debian package 'pebble'; .ci/run installs it)" if MISSING else ""
)
ARI_SKIP_REASON = SKIP_REASON or (
    ""
    if os.access(TRIXIE / "pebble", os.X_OK)
    else f"pebble 2.6 with ARI not unpacked in {TRIXIE} (.ci/run fetches it)"
)


@dataclass
class Pebble:
    folder: Path
    directory: str
    bundle: Path
    management: str
    dns: tuple[str, int]
    challtest: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.bundle))

    def root_pem(self) -> bytes:
        """Pebble's root, regenerated on every start: only its management API knows it."""
        with urllib.request.urlopen(f"{self.management}/roots/0", context=self._context(), timeout=5) as r:
            return bytes(r.read())

    def _challtest(self, path: str, body: dict[str, str]) -> None:
        request = urllib.request.Request(
            f"{self.challtest}{path}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def set_txt(self, host: str, value: str) -> None:
        self._challtest("/set-txt", {"host": host, "value": value})

    def clear_txt(self, host: str) -> None:
        self._challtest("/clear-txt", {"host": host})

    def log(self) -> str:
        return (self.folder / "pebble.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def start_pebble(
    folder: Path, http_port: int, eab: dict[str, str] | None = None, validity_seconds: int | None = None
) -> Pebble:
    """``eab``: key id -> base64url HMAC key; when given, pebble requires external account binding.
    ``validity_seconds``: the lifetime of the certificates pebble issues (its default: about five years)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.cert_chain_pems[0].write_to_path(str(folder / "api.crt"))
    server.private_key_pem.write_to_path(str(folder / "api.key"))
    ca.cert_pem.write_to_path(str(folder / "api-ca.pem"))
    api, management, dns, challtest, tls = free_ports(5)
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{api}",
            "managementListenAddress": f"127.0.0.1:{management}",
            "certificate": str(folder / "api.crt"),
            "privateKey": str(folder / "api.key"),
            "httpPort": http_port,
            "tlsPort": tls,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": bool(eab),
            "externalAccountMACKeys": eab or {},
        }
    }
    if validity_seconds is not None:
        config["pebble"]["certificateValidityPeriod"] = validity_seconds
    (folder / "pebble.json").write_text(json.dumps(config))
    pebble = Pebble(
        folder,
        f"https://127.0.0.1:{api}/dir",
        folder / "api-ca.pem",
        f"https://127.0.0.1:{management}",
        ("127.0.0.1", dns),
        f"http://127.0.0.1:{challtest}",
    )
    log = open(folder / "pebble.log", "wb")  # noqa: SIM115 - the child writes to it until stopped
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEBBLE_")}
    pebble.processes.append(
        subprocess.Popen(
            [
                str(CHALLTESTSRV),
                "-dns01",
                f"127.0.0.1:{dns}",
                "-management",
                f"127.0.0.1:{challtest}",
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-defaultIPv6",
                "",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    )
    pebble.processes.append(
        subprocess.Popen(
            [str(PEBBLE), "-config", str(folder / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**env, "PEBBLE_VA_NOSLEEP": "1"},
        )
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(pebble.directory, context=pebble._context(), timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline:
                pebble.stop()
                raise RuntimeError("pebble did not answer within 20 s:\n" + pebble.log()) from None
            time.sleep(0.2)
    return pebble
