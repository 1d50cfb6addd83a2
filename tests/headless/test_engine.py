"""The papermill engine octorunbook runs with: what it injects is the same on every machine."""

from __future__ import annotations

import subprocess
import sys

from papermill.translators import translate_parameters

from octorunbook.headless.engine import register_engine

LONG = {"hostname": "octopus.example.com", "names": ["portal-node-" + str(n) * 12 for n in range(6)]}


def test_the_injected_parameters_cell_is_one_line_per_parameter_whether_or_not_black_is_installed() -> None:
    """papermill would pass the cell through Black when it is importable (here: ansible-lint's), wrapping
    the long list over several lines; a run's record must not depend on what else the venv holds."""
    register_engine()
    text = translate_parameters("python3", "python", LONG, "Parameters")
    assert text.splitlines() == [
        "# Parameters",
        'hostname = "octopus.example.com"',
        "names = [" + ", ".join(f'"{name}"' for name in LONG["names"]) + "]",
    ]
    probe = (
        "import sys\n"
        "from papermill.translators import translate_parameters\n"
        "from octorunbook.headless.engine import register_engine\n"
        "register_engine()\n"
        f"translate_parameters('python3', 'python', {LONG!r}, 'Parameters')\n"
        "print('black' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr[-2000:]  # and Black is not even imported for it
