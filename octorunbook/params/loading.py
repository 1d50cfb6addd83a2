"""The one parameter parser: every door reads parameters here, under the same rules.

``octorunbook run``, ``renew``, ``recover``, ``check`` and ``schedule`` read the YAML file with
:func:`load_params_file`; a direct ``papermill`` run has its ``-f`` files and ``-y``/``-b`` strings read
with :func:`read_parameter_file` and :func:`parse_yaml` (:mod:`octorunbook.headless.papermill_hook`) and
every name it was given checked by :func:`parse_parameters`; the form (:func:`octorunbook.ui.start`)
checks its parameters cell with :func:`parse_parameters` too. The rules, once:

* a file is a regular file of at most 64 KiB, read with the bounded reader (:func:`octorunbook.files.read_limited`:
  no FIFO, device or folder; ``FILE_NOT_REGULAR``, ``FILE_TOO_LARGE``);
* UTF-8 YAML holding one mapping with text keys; no anchors or aliases (a few hundred bytes of aliases
  expand to gigabytes) and no key twice (``PARAMS_DUPLICATE_KEY`` with both line numbers: the last one
  must not silently win);
* every name is a parameter (``PARAMETER_UNKNOWN``, with a did-you-mean), none looks like a secret, every
  value has its type (:meth:`octorunbook.params.core.Parameters.from_mapping`).

Errors are :class:`~octorunbook.findings.InputError` with a stable code and a remedy, raised before
anything is touched; they name keys and lines, never values.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from octorunbook.files import MAX_PARAMETER_FILE, read_limited
from octorunbook.params.core import ParameterError, Parameters

# papermill's own names, added by ``--inject-paths``: not the operator's parameters, not refused.
PAPERMILL_NAMES = frozenset({"PAPERMILL_INPUT_PATH", "PAPERMILL_OUTPUT_PATH"})


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors, aliases, duplicate keys and keys that are not text."""

    source = "parameter file"

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call,unused-ignore]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise ParameterError(
                "PARAMETERS_UNREADABLE",
                f"{self.source} uses YAML anchors or aliases (&name / *name): line {event.start_mark.line + 1}.",
                "Write every value out; a parameter file needs no anchors or aliases.",
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise ParameterError(
                    "PARAMETER_INVALID",
                    f"{self.source} line {line}: a parameter name must be text, not a {type(key).__name__}.",
                    "Write each parameter as name: value, with a plain name.",
                )
            if key in seen:
                raise ParameterError(
                    "PARAMS_DUPLICATE_KEY",
                    f"{self.source} gives {key[:64]!r} twice: line {seen[key]} and line {line}.",
                    f"Keep one {key[:64]} line and delete the other; which one was meant is not guessed.",
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str | bytes, source: str = "parameter file") -> dict[str, Any]:
    """One YAML mapping of parameter: value, under the rules above (an empty text is an empty mapping)."""
    try:
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
    except UnicodeDecodeError:
        raise ParameterError(
            "PARAMETERS_UNREADABLE", f"{source} is not UTF-8 text.", "Save it as UTF-8 YAML."
        ) from None
    loader = _StrictLoader(decoded)
    loader.source = source
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        raise ParameterError(
            "PARAMETERS_UNREADABLE",
            f"{source} is not valid YAML{at}: {getattr(exc, 'problem', None) or type(exc).__name__}.",
            "Fix the YAML: one parameter per line, name: value.",
        ) from None
    finally:
        loader.dispose()
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(
            "PARAMETERS_UNREADABLE",
            f"{source} must be a YAML mapping of parameter: value, not a {type(data).__name__}.",
            "Write one parameter per line, e.g. hostname: octopus.example.com.",
        )
    return data


def read_parameter_file(path: str | Path) -> dict[str, Any]:
    """The mapping a parameter file holds: a small regular file read by the bounded reader, then :func:`parse_yaml`."""
    text = read_limited(path, MAX_PARAMETER_FILE, what="parameter file")
    return parse_yaml(text, source=f"{path}")


def parse_parameters(values: Mapping[str, Any]) -> Parameters:
    """The parameters a door was given, every name known (papermill's own ``--inject-paths`` names aside)."""
    return Parameters.from_mapping({k: v for k, v in values.items() if k not in PAPERMILL_NAMES}, strict=True)


def load_params_file(path: str | Path) -> Parameters:
    """The YAML parameter file as :class:`Parameters`: what ``run``, ``renew``, ``recover``, ``check`` and
    ``schedule`` read."""
    return parse_parameters(read_parameter_file(path))
