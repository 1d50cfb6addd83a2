"""The sandbox's Octopus web portal: ``GET /api`` on every listen prefix, real TLS on https prefixes.

It reads the instance configuration (listen prefixes, ForceSSL, HSTS) once, at start, as the Octopus
service does: such a change takes effect only after ``service --restart``. The certificate is another
matter: HTTP.sys looks its ``sslcert`` binding up at *handshake* time, so a binding replaced while the
service runs is served to the next connection without a restart (renewal relies on it; reference
new-real-components.md). The stand-in does the same: every TLS handshake reads the current binding.
Like HTTP.sys, it will not serve HTTPS when the bound certificate is missing from the store or has no
private key: the TCP connection is accepted and closed, so the TLS handshake fails.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
import signal
import socket
import ssl
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ...audit.files import write_replacing
from ...files import read_limited
from ...findings import InputError
from ..winsyntax import DEFAULT_INSTANCE, OCTOPUS_APP_ID
from . import nodes
from .acme_responder import acme_challenge_dir
from .host import OCTOPUS_VERSION, Sandbox

INSTALLATION_ID = str(uuid.uuid4())
ACME_CHALLENGE_PATH = "/.well-known/acme-challenge/"


def _acme_response(challenges: Path | None, path: str) -> bytes | None:
    if challenges is None or not path.startswith(ACME_CHALLENGE_PATH):
        return None
    token = path[len(ACME_CHALLENGE_PATH) :]
    if not token or not all(c.isalnum() or c in "-_" for c in token):
        return None
    try:
        return read_limited(challenges / token, 4096, what="challenge", follow=False)
    except InputError:
        return None


class PortalConfigView:
    """The instance configuration as the service reads it at start: the same parser octorunbook uses."""

    def __init__(self, sandbox: Sandbox, instance: str) -> None:
        from ..octopus import parse_show_configuration

        path = sandbox.instance_path(instance)
        config = parse_show_configuration(read_limited(path, what="sandbox instance configuration").decode())
        self.prefixes = list(config.listen_prefixes)
        self.force_ssl = config.force_ssl
        self.hsts = config.hsts_enabled
        self.hsts_max_age = config.hsts_max_age

    def first_https(self) -> str | None:
        return next((p for p in self.prefixes if p.lower().startswith("https://")), None)


def _api_document() -> dict[str, Any]:
    return {
        "Application": "Octopus Deploy",
        "Version": OCTOPUS_VERSION,
        "ApiVersion": "3.0.0",
        "InstallationId": INSTALLATION_ID,
        "HasLongTermSupport": False,
        "Links": {"Self": "/api", "Web": "/app", "ServerHealthStatus": "/api/serverstatus/health"},
    }


def make_handler(
    config: PortalConfigView,
    scheme: str,
    hosts: set[str],
    challenges: Path | None = None,
    sandbox: Sandbox | None = None,
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "Octopus Deploy/ Microsoft-HTTPAPI/2.0 (octorunbook sandbox)"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            sys.stdout.write(f"{scheme} {self.address_string()} {format % args}\n")
            sys.stdout.flush()

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            answer = _acme_response(challenges, self.path.split("?", 1)[0]) if scheme == "http" else None
            if answer is not None:
                self._send(200, "application/octet-stream", answer)
                return
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
            if not ({"+", "*"} & hosts) and host not in hosts:
                self._send(400, "text/html", b"<h2>Bad Request - Invalid Hostname</h2>")
                return
            if scheme == "http" and config.force_ssl and config.first_https():
                target = config.first_https() or ""
                self.send_response(302)
                self.send_header("Location", target.rstrip("/") + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/api":
                body = json.dumps(_api_document()).encode()
                self._send(200, "application/json", body)
            elif path == nodes.PING_PATH and sandbox is not None:
                status, answer = nodes.ping(sandbox)
                self._send(status, "application/json", answer)
            elif path.startswith(nodes.NODES_PATH) and sandbox is not None:
                self._nodes("GET", path)
            else:
                self._send(
                    200,
                    "text/html",
                    b"<html><body><h1>Octopus Deploy (octorunbook sandbox)</h1></body></html>",
                )

        def do_PUT(self) -> None:  # noqa: N802 - stdlib name
            path = self.path.split("?", 1)[0].rstrip("/")
            if sandbox is None or not path.startswith(nodes.NODES_PATH + "/"):
                self._send(405, "text/html", b"<h2>Method Not Allowed</h2>")
                return
            self._nodes("PUT", path)

        def _nodes(self, method: str, path: str) -> None:
            assert sandbox is not None
            length = min(int(self.headers.get("Content-Length") or 0), 64 * 1024)
            body = self.rfile.read(length) if method == "PUT" else b""
            status, answer = nodes.handle(sandbox, method, path, self.headers.get(nodes.API_KEY_HEADER), body)
            self._send(status, "application/json", answer)

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if scheme == "https" and config.hsts:
                self.send_header("Strict-Transport-Security", f"max-age={config.hsts_max_age}")
            self.end_headers()
            self.wfile.write(body)

    return Handler


class TLSServer(ThreadingHTTPServer):
    """HTTPS whose certificate is looked up per connection, from the binding as it is *now*.

    No usable certificate: accept and drop, as HTTP.sys resets the handshake.
    """

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        context: Callable[[], ssl.SSLContext | None],
    ):
        super().__init__(address, handler)
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        context = self.context()
        if context is None:
            with contextlib.suppress(OSError):
                request.close()
            return
        try:
            tls = context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
        finally:
            with contextlib.suppress(OSError):
                tls.close()


def _decoy_certificate(workdir: Path) -> tuple[Path, Path]:
    # cryptography is imported where it is used (here, and where a TLS context is built): a portal that
    # serves plain HTTP only, as every sandbox's first one does, never needs it
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox-decoy")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = workdir / "decoy.pem", workdir / "decoy.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class BindingContexts:
    """The TLS context for a port as HTTP.sys would pick it at handshake time, cached per certificate."""

    def __init__(self, sandbox: Sandbox, port: int, workdir: Path, wrong_certificate: bool = False):
        self.sandbox, self.port, self.workdir, self.wrong_certificate = (
            sandbox,
            port,
            workdir,
            wrong_certificate,
        )
        self._cache: dict[tuple[str, ...], ssl.SSLContext | None] = {}
        self._hash: str | None = None  # the certificate bound when this generation was read
        self._lock = threading.Lock()

    def _bound_hash(self) -> str:
        bindings = self.sandbox.read_json(self.sandbox.httpsys_path, {})
        binding = bindings.get(f"0.0.0.0:{self.port}") or bindings.get(f"127.0.0.1:{self.port}") or {}
        return str(binding.get("hash", ""))

    def __call__(self) -> ssl.SSLContext | None:
        with self._lock:
            try:
                st = self.sandbox.httpsys_path.stat()
                key: tuple[str, ...] = (str(st.st_ino), str(st.st_mtime_ns), str(st.st_size))
            except OSError:
                key = ("absent",)
            key += (self.sandbox.drill() or "",)  # a drill armed while running (legacy-tls) takes effect
            if key not in self._cache:
                previous = next(iter(self._cache.values()), None) if self._cache else None
                self._cache.clear()  # one generation of bindings at a time
                context = tls_context(self.sandbox, self.port, self.workdir, self.wrong_certificate)
                bound = self._bound_hash()
                rebound = self._hash is not None and bound != self._hash
                self._hash = bound
                if rebound and previous is not None and self.sandbox.consume_drill("wrong-certificate"):
                    # drill: the binding changed while running, but HTTP.sys keeps serving what it had
                    print(f"HTTP.sys: binding on {self.port} changed; still serving the previous certificate")
                    context = previous
                self._cache[key] = context
            return self._cache[key]


def tls_context(
    sandbox: Sandbox, port: int, workdir: Path, wrong_certificate: bool = False
) -> ssl.SSLContext | None:
    """The TLS context HTTP.sys would use for ``0.0.0.0:port``, or None when it would refuse."""
    bindings = sandbox.read_json(sandbox.httpsys_path, {})
    binding = bindings.get(f"0.0.0.0:{port}") or bindings.get(f"127.0.0.1:{port}")
    meta = sandbox.meta()
    if wrong_certificate:  # drill: HTTP.sys keeps serving the certificate it had before
        previous = meta.get("previous_bindings", {}).get(f"0.0.0.0:{port}")
        if previous:
            binding = previous
        else:
            cert_path, key_path = _decoy_certificate(workdir)
            return _context(cert_path, key_path)
    if not binding or str(binding.get("appid", "")).upper() != OCTOPUS_APP_ID:
        return None
    store = next(
        (
            p
            for p in sandbox.stores_dir.iterdir()
            if p.name.lower() == str(binding.get("store", "My")).lower()
        ),
        None,
    )
    if store is None:
        return None
    cert_path, key_path = store / f"{binding['hash']}.pem", store / f"{binding['hash']}.key"
    if not cert_path.is_file() or not key_path.is_file():
        print(
            f"HTTP.sys: certificate {binding['hash']} or its private key is missing; refusing TLS on {port}"
        )
        return None
    chain = served_chain(cert_path, sandbox.stores_dir / "CA", workdir)
    return _context(chain, key_path, legacy=accepts_legacy_tls(sandbox, binding))


def served_chain(cert_path: Path, ca_store: Path, workdir: Path) -> Path:
    """The leaf plus the intermediates HTTP.sys can find in LocalMachine\\CA, issuer by issuer (as PEM).

    With no certificate in LocalMachine\\CA (a self-signed binding, most rehearsals) the chain is the leaf
    alone: its first PEM block is served as it is, and OpenSSL reads it when the context is built (a block
    it cannot read refuses TLS, as a broken binding does) — no cryptography import in the portal.
    """
    candidates = sorted(ca_store.glob("*.pem")) if ca_store.is_dir() else []
    path = workdir / f"served-{cert_path.stem}.pem"
    if not candidates:
        leaf = _PEM_CERTIFICATE.search(read_limited(cert_path, follow=False))
        # written beside and renamed over: two ports bound to one certificate never read half a file
        write_replacing(path, leaf.group(0) + b"\n" if leaf else b"", 0o600)
        return path
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    intermediates = [x509.load_pem_x509_certificate(read_limited(p, follow=False)) for p in candidates]
    chain = [x509.load_pem_x509_certificate(read_limited(cert_path, follow=False))]
    while len(chain) < 10:
        issuer = next((c for c in intermediates if c.subject == chain[-1].issuer and c not in chain), None)
        if issuer is None or chain[-1].subject == chain[-1].issuer:
            break
        chain.append(issuer)
    write_replacing(path, b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain), 0o600)
    return path


def accepts_legacy_tls(sandbox: Sandbox, binding: dict[str, Any]) -> bool:
    """Drill 'legacy-tls' models a server whose SCHANNEL still enables TLS 1.0/1.1 (machine-wide, so it
    stays armed); a binding with ``disablelegacytls=enable`` refuses them anyway, as on Server 2019+."""
    flags = binding.get("flags") or {}
    return sandbox.drill() == "legacy-tls" and str(flags.get("disablelegacytls", "")).lower() != "enable"


def _context(cert_path: Path, key_path: Path, legacy: bool = False) -> ssl.SSLContext | None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if legacy:
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        context.load_cert_chain(cert_path, key_path)
    except (ssl.SSLError, OSError) as exc:
        print(f"HTTP.sys: cannot use {cert_path.name}: {exc}")
        return None
    return context


# the first PEM certificate block of a file, as OpenSSL and cryptography find it (text before it is skipped)
_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN ((?:X509 )?)CERTIFICATE-----[A-Za-z0-9+/=\s]*?-----END \1CERTIFICATE-----"
)

_L = TypeVar("_L")


def _hung_socket(address: tuple[str, int]) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.listen(16)  # accepted by the kernel, never answered
    return sock


def _bind(sandbox: Sandbox, port: int, listen: Callable[[tuple[str, int]], _L]) -> tuple[_L, int]:
    """Listen on the real port mapped to ``port``. A port found free when it was mapped is free only
    until another process binds it (a second sandbox, anything else on the machine): when that
    happened, map the prefix port to a fresh free port and listen there."""
    real = sandbox.map_port(port)
    for _ in range(8):
        try:
            return listen(("127.0.0.1", real)), real
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            print(f"127.0.0.1:{real} is taken by another process; mapping port {port} anew", flush=True)
            real = sandbox.remap_port(port, real)
    return listen(("127.0.0.1", real)), real


def serve(sandbox: Sandbox, instance: str, hang: bool = False, wrong_certificate: bool = False) -> None:
    config = PortalConfigView(sandbox, instance)
    by_port: dict[tuple[str, int], set[str]] = {}
    for prefix in config.prefixes:
        parts = urlsplit(prefix)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        by_port.setdefault((parts.scheme, port), set()).add((parts.hostname or "").lower())
    servers: list[ThreadingHTTPServer] = []
    hung: list[socket.socket] = []
    import tempfile  # here: one folder a start, and the module costs every portal ~6 ms to import

    workdir = Path(tempfile.mkdtemp(prefix="portal-", dir=sandbox.run_dir))
    for (scheme, port), hosts in sorted(by_port.items()):
        if hang:
            sock, real = _bind(sandbox, port, _hung_socket)
            hung.append(sock)
            print(f"{scheme}://*:{port}/ -> 127.0.0.1:{real} (hanging: sandbox drill 'hang')")
            continue
        handler = make_handler(config, scheme, hosts, acme_challenge_dir(sandbox.run_dir), sandbox)
        server: ThreadingHTTPServer
        if scheme == "https":
            contexts = BindingContexts(sandbox, port, workdir, wrong_certificate)
            server, real = _bind(sandbox, port, partial(TLSServer, handler=handler, context=contexts))
        else:
            server, real = _bind(sandbox, port, partial(ThreadingHTTPServer, RequestHandlerClass=handler))
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        print(f"{scheme}://{','.join(sorted(hosts))}:{port}/ -> 127.0.0.1:{real}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    (sandbox.run_dir / "portal.ready").write_text(json.dumps({"started": datetime.now(UTC).isoformat()}))
    sys.stdout.flush()
    stop.wait()
    for server in servers:
        server.shutdown()
        server.server_close()
    for sock in hung:
        sock.close()
    for path in workdir.iterdir():
        path.unlink()
    workdir.rmdir()


def main() -> int:
    args = sys.argv[1:]
    sandbox = Sandbox(Path(args[0]))
    instance = args[1] if len(args) > 1 else DEFAULT_INSTANCE
    try:
        serve(sandbox, instance, hang="--hang" in args, wrong_certificate="--wrong-certificate" in args)
    except OSError as exc:
        print(f"System.Net.HttpListenerException (0x80004005): {exc}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
