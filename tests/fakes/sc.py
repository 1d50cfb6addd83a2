"""Stand-in ``sc.exe qc <service>``: the documented English output, the logon account from
``$FAKE_WINDOWS_DIR/services.json`` (``{"OctopusDeploy": "DOMAIN\\\\svc"}``; LocalSystem when absent)."""

from __future__ import annotations

import sys

import _state


def main(argv: list[str]) -> int:
    _state.log_call("sc", argv)
    if len(argv) != 2 or argv[0].lower() != "qc":
        sys.stdout.write(
            "DESCRIPTION:\n        SC is a command line program used for communicating with the\n"
        )
        return 1
    accounts = _state.read_json("services.json", {})
    if not argv[1].startswith("OctopusDeploy"):
        sys.stdout.write(
            "[SC] OpenService FAILED 1060:\n\nThe specified service does not exist as an installed service.\n\n"
        )
        return 1060
    sys.stdout.write(
        "[SC] QueryServiceConfig SUCCESS\n\n"
        f"SERVICE_NAME: {argv[1]}\n"
        "        TYPE               : 10  WIN32_OWN_PROCESS\n"
        "        START_TYPE         : 2   AUTO_START\n"
        "        ERROR_CONTROL      : 1   NORMAL\n"
        '        BINARY_PATH_NAME   : "C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe" run\n'
        "        LOAD_ORDER_GROUP   :\n"
        "        TAG                : 0\n"
        f"        DISPLAY_NAME       : {argv[1]}\n"
        "        DEPENDENCIES       :\n"
        f"        SERVICE_START_NAME : {accounts.get(argv[1], 'LocalSystem')}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
