"""``python -m octorunbook.cli.serve_module MODULE ARGS…``: run ``python -m MODULE ARGS…`` (Voilà for
``octorunbook app``, JupyterLab for ``octorunbook lab``) with jsonschema imported without the IRI grammars.

Both servers import jsonschema at start (jupyter-events validates its event schemas with it), and with
``rfc3987-syntax`` installed that builds about forty lark grammars no schema of theirs asks for: ≈ 0.9 s
of CPU before the server answers, measured here (``jsontext.skip_iri_grammars``). Nothing else differs
from ``python -m MODULE``: the module runs as ``__main__`` with the same arguments, in this process.
"""

from __future__ import annotations

import runpy
import sys

from octorunbook.jsontext import skip_iri_grammars

SERVERS = ("voila", "jupyterlab")  # the only modules it runs


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in SERVERS:
        sys.exit(f"usage: python -m octorunbook.cli.serve_module {{{','.join(SERVERS)}}} ARGS…")
    skip_iri_grammars()
    sys.argv = [argv[0], *argv[1:]]
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
