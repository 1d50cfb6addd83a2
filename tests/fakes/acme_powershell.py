"""Stand-in ``powershell`` for ``serve-acme-challenge.ps1`` only (the ACME HTTP-01 listener).

Logs its argv (one JSON line) to ``$FAKE_ACME_LOG``, then behaves as the script documents: writes
``<StopFile>.ready`` once "listening", waits for ``-StopFile`` (or ``-TimeoutSeconds``) and prints the
result object. ``FAKE_ACME_SCENARIO=access-denied`` prints what the script prints when HTTP.sys refuses
the registration (not elevated, no urlacl) and exits 1 without ever becoming ready.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


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
    stop = Path(args["-StopFile"])
    Path(str(stop) + ".ready").write_text("listening")
    deadline = time.monotonic() + int(args["-TimeoutSeconds"])
    while not stop.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    print(json.dumps({"status": "ok", "prefix": args["-Prefix"], "served": 0, "requests": 0, "seconds": 0}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
