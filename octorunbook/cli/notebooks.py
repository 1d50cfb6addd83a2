"""``octorunbook notebooks [--copy DIR]``: where the packaged runbooks are, or copies of them (``cli.lab``)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    from octorunbook.cli.lab import notebooks_verb

    notebooks = sub.add_parser(
        "notebooks",
        help="where the packaged runbooks are; with --copy DIR, copy them (never over an edited copy)",
        description="Print the folder of the runbooks this installation carries. With --copy DIR, copy them "
        "into DIR with a params.yaml template; a copy that differs from the packaged one is kept and named.",
    )
    notebooks.add_argument(
        "--copy", metavar="DIR", help="copy the runbooks (and a params.yaml template) here"
    )
    notebooks.set_defaults(func=notebooks_verb)
