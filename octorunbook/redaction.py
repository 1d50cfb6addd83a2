"""Secrets: held in memory only, masked wherever text leaves the process.

A PFX password comes from the environment variable named by ``pfx_password_env`` or from a prompt.
It is wrapped in :class:`Secret` (whose ``repr`` and ``str`` never show it) and registered with the
process-wide :data:`SECRETS` registry. Everything that writes text somewhere a person or a disk will see
it (command records, result records, executed notebooks, HTML, logs) passes through
:meth:`SecretRegistry.redact` first.

**What is masked, and what is not.** A mask must never tell the reader the password. Masking the
password ``example`` inside ``CN=octopus.example.com`` prints ``CN=octopus.********.com`` — which *is*
the password — and corrupts the value. So an occurrence of a secret is left alone when it lies strictly
inside a value the program produced or the operator gave as public, and masked everywhere else:

* public values: every non-secret parameter (host name, DNS names, paths, instance, thumbprint), the
  names and subject of a loaded certificate, the runbook names (:meth:`SecretRegistry.add_public`);
* produced tokens: a run of hex digits (thumbprints, hashes, serial numbers, cell ids) and ISO
  timestamps, when longer than the secret.

A password shorter than :data:`MIN_PASSWORD_LENGTH` is refused (``PFX_PASSWORD_TOO_SHORT``): a one- to
three-character value occurs by chance in most text, and no mask of it could be told from noise.
"""

from __future__ import annotations

import html
import json
import os
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from .findings import InputError

MASK = "********"
MIN_PASSWORD_LENGTH = 4
# Parameter names that look like secrets are refused: secrets never travel as parameters.
SECRET_NAME_MARKERS = ("password", "secret", "token", "passphrase", "apikey", "api_key")
ALLOWED_SECRET_LIKE_NAMES = frozenset({"pfx_password_env"})
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
DEFAULT_PASSWORD_ENV = "OCTORUNBOOK_PFX_PASSWORD"
# Tokens the program produces that a password may occur inside by chance.
_PRODUCED = re.compile(
    r"[0-9A-Fa-f]+(?:-[0-9A-Fa-f]+)*"  # thumbprints, hashes, serials, GUIDs, cell ids
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?|\d{8}T\d{6}Z"  # timestamps
)


def looks_like_secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered not in ALLOWED_SECRET_LIKE_NAMES and any(m in lowered for m in SECRET_NAME_MARKERS)


def env_name_ok(name: str) -> bool:
    """True when ``name`` can be an environment variable's *name* (not, say, a pasted password)."""
    return ENV_NAME.fullmatch(name) is not None


def shown_env_name(name: str) -> str:
    """What a record or a message may show of a ``pfx_password_env`` value.

    A value that is not a variable name, or names no variable that is set (other than the default), is
    most likely the password pasted into the wrong field: only its length is shown.
    """
    if env_name_ok(name) and (name == DEFAULT_PASSWORD_ENV or name in os.environ):
        return name
    return f"{MASK} ({len(name)} characters, not shown)"


class Secret:
    """A string that refuses to be printed. Call :meth:`reveal` only where the value must be used."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        SECRETS.add(value)

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # pickling would write the value somewhere
        raise TypeError("a Secret cannot be pickled")


class SecretRegistry:
    """Every secret value this process has seen; :meth:`redact` masks all of them (see module doc)."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._public: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if value:
            with self._lock:
                self._values.add(value)

    def add_public(self, values: Iterable[str]) -> None:
        """Values the program produced or the operator gave as public: a secret inside them stays."""
        with self._lock:
            self._public.update(v for v in values if isinstance(v, str) and len(v) >= MIN_PASSWORD_LENGTH)

    def values(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._values)

    def contains_secret(self, text: str) -> bool:
        """True when ``text`` holds a secret outside every public value and produced token."""
        return self.redact(text) != text

    def masker(self) -> Callable[[str], str]:
        """A function masking every secret in the forms it takes in notebooks (``repr``, JSON, HTML).

        A value printed inside a dict shows as its ``repr`` and JSON escapes it, so a password with a
        quote or a backslash would slip past a plain search for its literal text.
        """
        with self._lock:
            secrets, public = set(self._values), set(self._public)
        variants: set[str] = set()
        for value in secrets:
            escaped = (repr(value), json.dumps(value), json.dumps(value, ensure_ascii=False))
            variants |= {value, html.escape(value), *(e[1:-1] for e in escaped)}
        ordered = sorted((v for v in variants if v), key=len, reverse=True)
        # A public value that *is* a secret (or holds one whole) protects nothing.
        shields = sorted((p for p in public if not any(p == v for v in variants)), key=len, reverse=True)

        def mask(text: str) -> str:
            if not ordered or not any(v in text for v in ordered):
                return text
            protected = _spans(text, shields)
            out: list[str] = []
            i = 0
            while i < len(text):
                for value in ordered:
                    if text.startswith(value, i) and not _inside(protected, i, i + len(value)):
                        out.append(MASK)
                        i += len(value)
                        break
                else:
                    out.append(text[i])
                    i += 1
            return "".join(out)

        return mask

    def redact(self, text: str) -> str:
        return self.masker()(text)

    def redact_obj(self, obj: Any) -> Any:
        """Redact every string inside nested dicts/lists (keys too)."""
        mask = self.masker()

        def walk(item: Any) -> Any:
            if isinstance(item, str):
                return mask(item)
            if isinstance(item, dict):
                return {mask(str(k)): walk(v) for k, v in item.items()}
            if isinstance(item, (list, tuple)):
                return [walk(v) for v in item]
            return item

        return walk(obj)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._public.clear()


def _spans(text: str, shields: list[str]) -> list[tuple[int, int]]:
    spans = [(m.start(), m.end()) for m in _PRODUCED.finditer(text)]
    for value in shields:
        start = text.find(value)
        while start != -1:
            spans.append((start, start + len(value)))
            start = text.find(value, start + 1)
    return spans


def _inside(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """True when [start, end) lies inside a span strictly longer than itself."""
    return any(s <= start and end <= e and e - s > end - start for s, e in spans)


SECRETS = SecretRegistry()


def secret_from_env(variable: str) -> Secret | None:
    """The secret held by environment variable ``variable``, or None when it is unset or empty.

    A value shorter than :data:`MIN_PASSWORD_LENGTH` is refused (see the module docstring); the
    message gives neither the value nor its length.
    """
    if not env_name_ok(variable):
        raise InputError(
            "PASSWORD_ENV_INVALID",
            f"The password variable must be an environment variable *name*; the value given "
            f"({len(variable)} characters) is not one, and is not shown.",
            f"Put the password in an environment variable and give its name, e.g. {DEFAULT_PASSWORD_ENV}.",
        )
    value = os.environ.get(variable)
    if not value:
        return None
    return password_secret(value, f"The password in {variable}")


def password_secret(value: str, where: str = "The typed password") -> Secret:
    """``value`` as a registered :class:`Secret`; PFX_PASSWORD_TOO_SHORT under 4 characters."""
    if len(value) < MIN_PASSWORD_LENGTH:
        raise InputError(
            "PFX_PASSWORD_TOO_SHORT",
            f"{where} is shorter than {MIN_PASSWORD_LENGTH} characters.",
            "Re-export the PFX with a longer password: a password this short cannot be kept out of the "
            "records without hiding innocent text, and protects nothing.",
        )
    return Secret(value)
