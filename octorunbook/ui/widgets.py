"""One widget per parameter, chosen by what the parameter is (a closed choice, a flag, a number, text)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from octorunbook.params import core as params
from octorunbook.params.core import KEY_TYPES, POSTURES, RETIRE_CHOICES, SOURCES, STORES, TARGETS
from octorunbook.ui.fields import FRONTS, LABELS, PLACEHOLDERS, SOURCE_LABELS
from octorunbook.ui.style import DESCRIPTION_STYLE


def make_widget(name: str, value: Any, runbook: str, w: ModuleType) -> Any:
    """The widget for one parameter: a choice for a closed set of values, else by the value's type.

    ``w`` is the widget kit: ``ipywidgets``, or :mod:`octorunbook.ui.inert` in a headless run."""
    label = LABELS.get(name, name)
    if name == "target":
        return w.ToggleButtons(options=TARGETS, value=value, description=label, style=DESCRIPTION_STYLE)
    if name == "certificate_source":
        options = [(SOURCE_LABELS[s], s) for s in SOURCES]
        return w.ToggleButtons(
            options=options,
            value=value,
            description=label,
            style=DESCRIPTION_STYLE,
            tooltips=[
                "a new certificate for the hostname (rehearsal, internal use)",
                "a .pfx/.p12 file from your CA, with its private key",
                "a PEM certificate and its key file",
                "a certificate already in LocalMachine\\My or WebHosting",
                "issued (and renewed by 04) by an ACME CA such as Let's Encrypt",
            ],
        )
    if name == "store":
        return w.Dropdown(options=STORES, value=value, description=label, style=DESCRIPTION_STYLE)
    if name == "key_type":
        return w.Dropdown(options=KEY_TYPES, value=value, description=label, style=DESCRIPTION_STYLE)
    if name == "retire_old":
        return w.Dropdown(options=RETIRE_CHOICES, value=value, description=label, style=DESCRIPTION_STYLE)
    if name == "posture":
        return w.Dropdown(options=POSTURES, value=value, description=label, style=DESCRIPTION_STYLE)
    if name == "front":
        fronts: tuple[str, ...] = getattr(params, "FRONTS", FRONTS)  # params names them once it has front
        return w.ToggleButtons(options=fronts, value=value, description=label, style=DESCRIPTION_STYLE)
    if isinstance(value, bool):
        return w.Checkbox(
            value=value,
            description=label,
            style=DESCRIPTION_STYLE,
            indent=True,
            layout=w.Layout(width="480px"),
        )
    if isinstance(value, int):
        return w.IntText(
            value=value, description=label, style=DESCRIPTION_STYLE, layout=w.Layout(width="300px")
        )
    placeholder = PLACEHOLDERS.get(name, "")
    if name == "thumbprint" and runbook != "01-import-certificate":
        placeholder = "empty: the certificate 01 imported last"
    return w.Text(
        value=value,
        description=label,
        placeholder=placeholder,
        style=DESCRIPTION_STYLE,
        continuous_update=True,
        layout=w.Layout(width="560px"),
    )
