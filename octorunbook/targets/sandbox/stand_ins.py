"""The sandbox's stand-in executables: ``Octopus.Server``, ``netsh``, ``reg`` and ``sc`` in ``<sandbox>/bin``,
each a sh wrapper that runs its module of this package and speaks the documented syntax."""

from __future__ import annotations

import sys
from pathlib import Path

# each stand-in's file name in <sandbox>/bin, and the module of this package it runs
STAND_INS = {"Octopus.Server": "server_cli", "netsh": "netsh", "reg": "reg", "sc": "sc"}


def stand_in_paths() -> list[str]:
    """Where a stand-in (started without site) imports octorunbook and its dependencies from: the folder
    this octorunbook is imported from (a source tree under an editable install), then this interpreter's
    site-packages."""
    import sysconfig

    package_parent = str(Path(__file__).resolve().parents[3])
    found = [package_parent, sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    return list(dict.fromkeys(p for p in found if p))


def write_stand_ins(root: Path) -> None:
    """(Re)write the four wrappers of the sandbox at ``root``, for this interpreter and this octorunbook."""
    from ...emit import sh_exec

    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    paths = stand_in_paths()
    for name, module in STAND_INS.items():
        path = bin_dir / name
        # -S: no site (its .pth files and the editable install's finder cost ~5 ms of each stand-in's ~50,
        # and a run starts a dozen or more); the folders octorunbook and its dependencies are imported from
        # are named instead, after the standard library. -P: not the folder the command runs in either.
        bootstrap = (
            f"import sys; sys.path += {paths!r}; "
            f"from octorunbook.targets.sandbox.{module} import main; sys.exit(main())"
        )
        argv = [sys.executable, "-S", "-P", "-c", bootstrap]
        path.write_text(
            "#!/bin/sh\n# stand-in written by `octorunbook sandbox init`; speaks the documented syntax\n"
            f"{sh_exec([*argv, '--sandbox-dir', str(root.resolve())])}\n"
        )
        path.chmod(0o755)


__all__ = ["STAND_INS", "stand_in_paths", "write_stand_ins"]
