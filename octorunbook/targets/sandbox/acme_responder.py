"""The sandbox's ACME HTTP-01 responder (``protocols.ChallengeResponder``): the stand-in portal serves a
token from its token folder (``portal.acme_challenge_dir``) as soon as the file exists, for any Host, the
way a second HTTP.sys registration of ``http://+:80/.well-known/acme-challenge/`` would — no restart.

A token comes from the CA: it names a file here only when it is what RFC 8555 §8.3 says it is
(base64url, no padding), so a token can never name a path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any


def acme_challenge_dir(run_dir: Path) -> Path:
    """Where the sandbox's HTTP-01 registrations live: one file per token, holding the key authorisation.

    The stand-in for a second HTTP.sys registration of ``http://+:80/.well-known/acme-challenge/``: the
    running portal serves a token as soon as its file exists (no restart), for any Host header (the
    strong wildcard ``+`` wins over Octopus's host-named prefix), before any ForceSSL redirect.
    """
    return run_dir / "acme-challenge"


def require_token(token: str) -> str:
    """``token`` when it is a base64url ACME token; else ``ACME_TOKEN_INVALID`` (never a path)."""
    # here: the portal imports this module (for acme_challenge_dir) at every start, and protocols
    # brings the dataclass machinery
    from ..protocols import require_acme_token

    return require_acme_token(token)


class SandboxChallengeResponder:
    """HTTP-01 through the sandbox portal's token folder."""

    kind = "sandbox-token-folder"

    def __init__(self, run_dir: Path) -> None:
        self.folder = acme_challenge_dir(run_dir)

    @contextmanager
    def serving(self, token: str, key_authorization: str) -> Iterator[dict[str, Any]]:
        path = self.folder / require_token(token)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o755)
        path.unlink(missing_ok=True)  # never written through a link planted at the name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key_authorization)
        try:
            yield {}
        finally:
            path.unlink(missing_ok=True)


__all__ = ["SandboxChallengeResponder", "acme_challenge_dir", "require_token"]
