"""Secrets: held in memory only, masked wherever text leaves the process.

A PFX password comes from the environment variable named by ``pfx_password_env`` or from a prompt.
It is wrapped in :class:`Secret` (whose ``repr`` and ``str`` never show it) and registered with the
process-wide :data:`SECRETS` registry. Everything that writes text somewhere a person or a disk will see
it (command records, result records, executed notebooks, HTML, logs) passes through
:meth:`SecretRegistry.redact` first.
"""

from __future__ import annotations

import os
import threading
from typing import Any

MASK = "********"
# Parameter names that look like secrets are refused: secrets never travel as parameters.
SECRET_NAME_MARKERS = ("password", "secret", "token", "passphrase", "apikey", "api_key")
ALLOWED_SECRET_LIKE_NAMES = frozenset({"pfx_password_env"})


def looks_like_secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered not in ALLOWED_SECRET_LIKE_NAMES and any(m in lowered for m in SECRET_NAME_MARKERS)


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
    """Every secret value this process has seen; :meth:`redact` masks all of them."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        # Very short values would mask innocent text everywhere; a 1-3 character password is refused
        # elsewhere (it is not a password an operator should use), but it is still masked here.
        if value:
            with self._lock:
                self._values.add(value)

    def values(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._values)

    def contains_secret(self, text: str) -> bool:
        return any(v in text for v in self.values())

    def redact(self, text: str) -> str:
        for value in sorted(self.values(), key=len, reverse=True):
            if value in text:
                text = text.replace(value, MASK)
        return text

    def redact_obj(self, obj: Any) -> Any:
        """Redact every string inside nested dicts/lists (keys too)."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {self.redact(str(k)): self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.redact_obj(v) for v in obj]
        return obj

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


SECRETS = SecretRegistry()


def secret_from_env(variable: str) -> Secret | None:
    """The secret held by environment variable ``variable``, or None when it is unset or empty."""
    value = os.environ.get(variable)
    if not value:
        return None
    return Secret(value)
