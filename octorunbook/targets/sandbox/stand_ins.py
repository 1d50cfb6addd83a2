"""The sandbox's stand-in executables: ``Octopus.Server``, ``netsh``, ``reg`` and ``sc`` in ``<sandbox>/bin``,
each a sh wrapper that runs its module of this package and speaks the documented syntax."""

from __future__ import annotations

import sys
from pathlib import Path

# each stand-in's file name in <sandbox>/bin, and the module of this package it runs
STAND_INS = {"Octopus.Server": "server_cli", "netsh": "netsh", "reg": "reg", "sc": "sc"}


def stand_in_paths() -> list[str]:
    """Where a process started without site (a stand-in, the portal) imports octorunbook and its
    dependencies from: the folder this octorunbook is imported from (a source tree under an editable
    install), this interpreter's site-packages, and every folder site gives it besides (the base
    interpreter's under a venv with system site packages, a distribution's dist-packages, the user's site).
    Started without site itself (a stand-in restarting the portal), it passes on the folders it was given.
    Never the folder a command runs in."""
    import os
    import sysconfig

    package_parent = str(Path(__file__).resolve().parents[3])
    if sys.flags.no_site:  # sysconfig's site-packages would be the base interpreter's here, not the venv's
        stdlib = {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}
        stdlib |= {os.path.join(folder, "lib-dynload") for folder in stdlib}
        given = [p for p in sys.path if p and os.path.isabs(p) and p not in stdlib and not p.endswith(".zip")]
        return list(dict.fromkeys([package_parent, *given]))
    import site

    found = [package_parent, sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    found += site.getsitepackages()
    if site.ENABLE_USER_SITE:
        found.append(site.getusersitepackages())
    return list(dict.fromkeys(p for p in found if p))


def without_site(module: str) -> list[str]:
    """The argv that runs ``octorunbook.targets.sandbox.<module>``'s ``main()`` in this interpreter without
    site: -S skips its .pth files and the editable install's finder (~15 ms of each start), naming instead
    the folders octorunbook and its dependencies are imported from, after the standard library; -P skips
    the folder the command runs in too."""
    bootstrap = (
        f"import sys; sys.path += {stand_in_paths()!r}; "
        f"from octorunbook.targets.sandbox.{module} import main; sys.exit(main())"
    )
    return [sys.executable, "-S", "-P", "-c", bootstrap]


def wrapper_text(root: Path, name: str) -> str:
    """The sh wrapper of the stand-in ``name`` (a key of :data:`STAND_INS`) of the sandbox at ``root``, as
    this interpreter and this octorunbook write it."""
    from ...emit import sh_exec

    argv = without_site(STAND_INS[name])  # a run starts a dozen stand-ins or more
    return (
        "#!/bin/sh\n# stand-in written by `octorunbook sandbox init`; speaks the documented syntax\n"
        f"{sh_exec([*argv, '--sandbox-dir', str(root.resolve())])}\n"
    )


def write_stand_ins(root: Path) -> None:
    """(Re)write the four wrappers of the sandbox at ``root``, for this interpreter and this octorunbook."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in STAND_INS:
        path = bin_dir / name
        path.write_text(wrapper_text(root, name))
        path.chmod(0o755)


__all__ = ["STAND_INS", "stand_in_paths", "without_site", "wrapper_text", "write_stand_ins"]
