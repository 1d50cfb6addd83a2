"""Stand-in ``powershell`` for ``serve-acme-challenge.ps1`` only (the ACME HTTP-01 listener).

Logs its argv (one JSON line) to ``$FAKE_ACME_LOG``, then behaves as the script documents: refuses a
``-TokenFolder`` that exists, creates it (mode 0700: the stand-in of its private ACL), serves
``GET /.well-known/acme-challenge/<token>`` from ``<TokenFolder>/<token>`` when the token is base64url and
the file exists at the time of the request (on 127.0.0.1, the port written to ``$FAKE_ACME_PORT_FILE``:
the stand-in of HTTP.sys's port 80), writes ``listener.ready``, stops when ``listener.stop`` appears (or
after ``-TimeoutSeconds``) and prints the result object. ``FAKE_ACME_SCENARIO=access-denied`` prints what
the script prints when HTTP.sys refuses the registration (not elevated, no urlacl) and exits 1 without
ever becoming ready.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHALLENGE_PATH = "/.well-known/acme-challenge/"
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


def serve(folder: Path, counts: dict[str, int]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            counts["requests"] += 1
            token = self.path.removeprefix(CHALLENGE_PATH) if self.path.startswith(CHALLENGE_PATH) else ""
            body = None
            if TOKEN.fullmatch(token) and (folder / token).is_file():
                body = (folder / token).read_bytes()
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            counts["served"] += 1
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str]) -> int:
    with open(os.environ["FAKE_ACME_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(argv) + "\n")
    args = dict(zip(argv[argv.index("-File") + 2 :: 2], argv[argv.index("-File") + 3 :: 2], strict=False))
    if os.environ.get("FAKE_ACME_SCENARIO") == "access-denied":
        print(
            json.dumps(
                {
                    "status": "error",
                    "phase": "register",
                    "message": "Access is denied",
                    "exception_type": "System.Net.HttpListenerException",
                    "hresult": -2147467259,
                }
            )
        )
        return 1
    folder = Path(args["-TokenFolder"])
    if folder.exists():
        print(json.dumps({"status": "error", "phase": "folder", "message": "it exists already"}))
        return 1
    folder.mkdir(mode=0o700)
    counts = {"served": 0, "requests": 0}
    server = serve(folder, counts)
    if os.environ.get("FAKE_ACME_PORT_FILE"):
        Path(os.environ["FAKE_ACME_PORT_FILE"]).write_text(str(server.server_address[1]))
    (folder / "listener.ready").write_text("listening")
    deadline = time.monotonic() + int(args["-TimeoutSeconds"])
    while not (folder / "listener.stop").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    server.shutdown()
    print(json.dumps({"status": "ok", "prefix": args["-Prefix"], **counts, "seconds": 0}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
