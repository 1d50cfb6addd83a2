"""The kernel of a headless run: ipykernel, as ``python -m ipykernel_launcher`` starts it, without its debugger.

ipykernel imports debugpy (and pydevd behind it) when it builds every kernel, so that a front end can
attach a debugger. Nothing attaches to a kernel ``octorunbook run``/``renew`` starts: it runs one runbook
and is shut down. Started as ``python -P -m octorunbook.headless.ipykernel_headless -f {connection_file}``
(:mod:`.warm_kernel`, only where the kernel spec is ipykernel's own ``-m ipykernel_launcher``), it
starts with debugpy marked missing — ipykernel then builds no debugger, as where debugpy is not installed:
≈ 70 ms of CPU less per kernel (0.27 → 0.20 s to a first answer, measured here). ``-P``: the folder a
run starts in is not on the kernel's import path, so a planted ``octorunbook/`` or ``ipykernel/`` there
is never imported. A kernel JupyterLab, Voilà, nbval or papermill's own CLI starts is left as it is.
"""

from __future__ import annotations

import sys

MODULE = "octorunbook.headless.ipykernel_headless"


def headless_argv(argv: list[str]) -> list[str] | None:
    """The argv to start ipykernel's kernel through this module, or None for any other kernel spec."""
    if len(argv) >= 3 and argv[1:3] == ["-m", "ipykernel_launcher"]:
        return [argv[0], "-P", "-m", MODULE, *argv[3:]]
    return None


def main() -> None:
    # None in sys.modules: importing it raises ImportError, which ipykernel expects where it is missing
    sys.modules.setdefault("debugpy", None)  # type: ignore[arg-type]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
