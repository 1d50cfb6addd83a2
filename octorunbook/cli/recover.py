"""``octorunbook recover PARAMS.yaml [--discard]``: what the target's state home holds and has set aside.

A checkpoint that failed authentication or validation is quarantined and blocks every run that would
change the target (``STATE_UNTRUSTED``), because the target may be half-changed and octorunbook will not
guess how to restore it from a file it cannot trust. This verb is how an operator gets past that: it
shows each quarantined file's text and why it was set aside, and — with ``--discard``, after the operator
has compared the target with the last audit record and restored it by hand if needed — removes them.
It reads the parameters through the same parser as ``run``; it changes nothing on the target itself.
"""

from __future__ import annotations

import argparse
from typing import Any


def _recover(args: argparse.Namespace) -> int:
    from octorunbook.headless.runner import load_params_file
    from octorunbook.targets import StateHome, state_dir_for, target_id

    params = load_params_file(args.params)
    root = state_dir_for(params)
    StateHome.check_existing(root)
    home = StateHome.open(root, target_id(params.target, params.instance))
    held = home.quarantined()
    print(f"state home: {home.root}")
    if not held:
        print("  quarantine: empty — nothing set aside, nothing blocks a run.")
        return 0
    for item in held:
        print(f"\n  ⚠ {item.path.name}\n    why: {item.why}\n    it held:")
        for line in item.text.splitlines()[:200]:
            print(f"      {line}")
    if not args.discard:
        print(
            "\n  These files block every run that would change the target (STATE_UNTRUSTED).\n"
            "  Compare the target with the last audit record's 'before' state, restore it by hand if needed,\n"
            f"  then run: octorunbook recover {args.params} --discard"
        )
        return 1
    gone = home.discard_quarantine()
    print(f"\n  discarded {len(gone)} file(s); the next run plans from the target as it is now.")
    return 0


def register(sub: Any) -> None:
    recover = sub.add_parser(
        "recover",
        help="show (and with --discard clear) state files set aside as untrusted",
        description="Show what the target's protected state home has quarantined (STATE_UNTRUSTED) and why, "
        "with each file's text. With --discard, remove them after showing them, so runs may change the "
        "target again. Exit 0 when nothing blocks a run, 1 when quarantined files remain, 2 on bad parameters.",
    )
    recover.add_argument("params", help="YAML file of runbook parameters (the same file `run` uses)")
    recover.add_argument(
        "--discard", action="store_true", help="remove the quarantined files after showing them"
    )
    recover.set_defaults(func=_recover)
