"""The form's widgets in a kernel the runner started: values and layout, without ipywidgets.

A headless run (``octorunbook run``/``renew``, and the runs Continue starts) has nobody to type into a
form, and the executed notebook keeps no widget state: its inputs are the static "Inputs for this run"
panel (:meth:`Form.summary`). Building the live form there cost each notebook about 0.15 s of the
kernel's CPU and ninety ``comm`` messages the runner's papermill had to read (about sixty widgets, and
ipywidgets itself to import). :class:`~octorunbook.ui.form.Form` takes its widget classes from a kit:
``ipywidgets`` where someone looks at the form, this module where nobody does. The same code fills,
arranges and validates the fields either way, so the values a run uses and the panel it shows are the
same; only nothing is sent to a browser.

Each class takes the keyword arguments of its ipywidgets namesake and keeps ``value``, ``options``,
``disabled`` and ``layout.display`` (what :class:`Form` reads and writes); ``observe`` registers
nothing, because nothing changes a value after the form is built.
"""

from __future__ import annotations

from typing import Any


class Layout:
    def __init__(self, **kwargs: Any) -> None:
        self.display: str | None = kwargs.get("display")


class Widget:
    def __init__(self, children: Any = (), **kwargs: Any) -> None:
        self.value: Any = kwargs.get("value", "")
        self.options: Any = kwargs.get("options", ())
        self.disabled = bool(kwargs.get("disabled", False))
        self.layout = kwargs.get("layout") or Layout()
        self.children = tuple(children)

    def observe(self, *_args: Any, **_kwargs: Any) -> None:
        """Nobody types into a headless form: no callback would ever be called."""

    def close(self) -> None:
        """Nothing to close: no model was created in the kernel or the browser."""

    def add_class(self, _name: str) -> None:
        """No view to style."""


# ipywidgets' names for the classes the form and make_widget use
HTML = HBox = VBox = Password = Dropdown = ToggleButtons = Checkbox = IntText = Text = Widget

__all__ = [
    "HTML",
    "Checkbox",
    "Dropdown",
    "HBox",
    "IntText",
    "Layout",
    "Password",
    "Text",
    "ToggleButtons",
    "VBox",
    "Widget",
]
