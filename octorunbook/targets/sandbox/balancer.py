"""A load balancer for rehearsing an HA cluster of sandboxes on one machine (TLS passed through).

    python -m octorunbook.targets.sandbox.balancer --port 18440 \\
        --node 18441=http://localhost:18081 --node 18442=http://localhost:18082 ...

Each ``--node`` is a node's HTTPS port on 127.0.0.1 and the base URL of its Octopus, whose
``/api/octopusservernodes/ping`` the balancer polls, as the Octopus docs tell a load balancer to: a node
is in the pool while its ping answers 200 *and* its HTTPS port accepts a connection (a node draining
answers 418 and leaves the pool; a node without HTTPS yet is not sent HTTPS traffic). Connections are
spread round-robin over the pool and passed through byte for byte, so the client's TLS handshake (SNI
included) reaches the node. No node in the pool: the connection is closed, as a balancer with an empty
pool resets it. The pool is printed on every change (the rehearsal's log of who served when).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from octorunbook.ops.node_drain import ONLINE, Server, ping

HEALTH_INTERVAL = 0.1  # seconds between two health checks of the pool (each node's ping and HTTPS port)


@dataclass(frozen=True)
class Backend:
    https_port: int
    node_url: str


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class Balancer:
    """Round-robin TCP passthrough over the nodes whose ping says 200 and whose HTTPS port answers."""

    def __init__(self, port: int, backends: Sequence[Backend], interval: float = HEALTH_INTERVAL) -> None:
        self.backends, self.interval = list(backends), interval
        self.pool: list[Backend] = []
        self._turn = itertools.count()
        self._stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", port), reuse_port=False)

    def _health(self) -> None:
        while not self._stop.is_set():
            pool = [
                b
                for b in self.backends
                if ping(Server(b.node_url, timeout=1.0)) == ONLINE and _accepts(b.https_port)
            ]
            if pool != self.pool:
                print(f"pool: {[b.https_port for b in pool]}", flush=True)
            self.pool = pool
            self._stop.wait(self.interval)

    def _serve(self, client: socket.socket) -> None:
        pool = self.pool
        if not pool:
            client.close()
            return
        backend = pool[next(self._turn) % len(pool)]
        try:
            upstream = socket.create_connection(("127.0.0.1", backend.https_port), timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        back.start()
        _pipe(client, upstream)
        back.join()
        client.close()
        upstream.close()

    def serve_forever(self) -> None:
        threading.Thread(target=self._health, daemon=True).start()
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()
        self.listener.close()

    def stop(self) -> None:
        self._stop.set()


def _backend(text: str) -> Backend:
    port, _, url = text.partition("=")
    if not port.isdigit() or not url:
        raise argparse.ArgumentTypeError(f"{text!r} is not HTTPS_PORT=NODE_URL")
    return Backend(int(port), url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m octorunbook.targets.sandbox.balancer")
    parser.add_argument("--port", type=int, required=True, help="port to listen on (127.0.0.1)")
    parser.add_argument("--node", type=_backend, action="append", required=True, help="HTTPS_PORT=NODE_URL")
    args = parser.parse_args(argv)
    balancer = Balancer(args.port, args.node)
    signal.signal(signal.SIGTERM, lambda *_: balancer.stop())
    signal.signal(signal.SIGINT, lambda *_: balancer.stop())
    print(f"balancing 127.0.0.1:{args.port} over {[b.https_port for b in args.node]}", flush=True)
    started = time.monotonic()
    balancer.serve_forever()
    print(f"stopped after {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
