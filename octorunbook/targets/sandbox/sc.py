"""Stand-in ``sc qc <service>`` for the sandbox: the service configuration as Windows prints it.

The logon account is ``sandbox.json``'s ``service_account`` (``LocalSystem`` unless a test or an operator
rehearsing a custom account sets it); any service but the sandbox instance's is 1060, as on Windows.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..winsyntax import service_name
from .host import Sandbox


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    sandbox = Sandbox(Path(args[1]))
    words = args[2:]
    if len(words) != 2 or words[0].lower() != "qc":
        print(
            "DESCRIPTION:\n        SC is a command line program used for communicating with the\n        Service Control Manager and services."
        )
        return 1
    services = {service_name(i): i for i in sandbox.instances()}
    if words[1] not in services:
        print(
            "[SC] OpenService FAILED 1060:\n\nThe specified service does not exist as an installed service.\n"
        )
        return 1060
    print(
        "[SC] QueryServiceConfig SUCCESS\n\n"
        f"SERVICE_NAME: {words[1]}\n"
        "        TYPE               : 10  WIN32_OWN_PROCESS\n"
        "        START_TYPE         : 2   AUTO_START\n"
        "        ERROR_CONTROL      : 1   NORMAL\n"
        f'        BINARY_PATH_NAME   : "{sandbox.server_exe}" run --instance="{services[words[1]]}"\n'
        "        LOAD_ORDER_GROUP   :\n"
        "        TAG                : 0\n"
        f"        DISPLAY_NAME       : {words[1]}\n"
        "        DEPENDENCIES       :\n"
        f"        SERVICE_START_NAME : {sandbox.service_account()}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
