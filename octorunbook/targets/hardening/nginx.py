"""Hardening TLS behind nginx: ``ssl_protocols`` and ``ssl_ciphers`` in the portal's managed server block.

Pure text functions: the nginx front (targets/nginx) owns the file, ``nginx -t`` and the reload; this
module says what the block must contain and rewrites it. The values follow Mozilla's "intermediate"
server-side TLS profile without the DHE suites: TLS 1.2 and 1.3 only, ECDHE key exchange with AES-GCM
or ChaCha20-Poly1305. ``ssl_ciphers`` governs TLS 1.2 only (OpenSSL configures TLS 1.3 suites separately,
and all of its defaults are strong). ``ssl_prefer_server_ciphers off``: every suite left is strong, so the
client may pick the one fastest for it. No reboot: a reload applies it to new connections.
"""

from __future__ import annotations

import re

from octorunbook.targets.hardening.plan import HardeningPlan, RegistryChange

NGINX_PROTOCOLS = "TLSv1.2 TLSv1.3"
NGINX_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)
DIRECTIVES: dict[str, str] = {
    "ssl_protocols": NGINX_PROTOCOLS,
    "ssl_ciphers": NGINX_CIPHERS,
    "ssl_prefer_server_ciphers": "off",
}
_DIRECTIVE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<name>" + "|".join(DIRECTIVES) + r")[ \t]+(?P<value>[^;]*);[^\n]*(?P<nl>\n?)",
    re.M,
)

_SSL_LINE = re.compile(r"^(?P<indent>[ \t]*)ssl_[a-z_]+[ \t][^;\n]*;[^\n]*\n", re.M)


def nginx_directives() -> list[str]:
    """The lines a hardened server block carries, as nginx.conf text."""
    return [f"{name} {value};" for name, value in DIRECTIVES.items()]


def read_directives(block: str) -> dict[str, str | None]:
    """The current value of each hardening directive in ``block`` (None: not set, nginx's default applies --
    ``ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3`` before nginx 1.23.4)."""
    found: dict[str, str | None] = dict.fromkeys(DIRECTIVES)
    for match in _DIRECTIVE.finditer(block):
        found[match.group("name")] = match.group("value").strip().strip("'\"")
    return found


def plan_nginx(block: str, where: str = "managed server block") -> HardeningPlan:
    current = read_directives(block)
    changes = tuple(
        RegistryChange(where, name, "directive", current[name], value)
        for name, value in DIRECTIVES.items()
        if current[name] != value
    )
    return HardeningPlan(
        strategy="nginx",
        changes=changes,
        commands=(),
        rollback_commands=(),
        reboot_required=False,
        notes=("nginx -t checks the new block before the reload; a reload applies it to new connections.",),
        may_break=(
            "Clients that speak only TLS 1.0/1.1 (Windows 7 without KB3140245, Android 4.3 and older, Java 6).",
            "Windows PowerShell 5.1 and .NET Framework clients without SchUseStrongCrypto=1 calling the API.",
        ),
    )


def harden_server_block(block: str) -> str:
    """``block`` with each hardening directive set to its value: replaced in place where present, else
    inserted after the last ``ssl_*`` directive (so in the TLS server of a file with several blocks), or
    before the block's closing brace when it has none, with the block's own indentation. Idempotent."""
    seen: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name in seen:  # a duplicate would make nginx -t fail: keep one
            return ""
        seen.add(name)
        return f"{match.group('indent')}{name} {DIRECTIVES[name]};{match.group('nl')}"

    text = _DIRECTIVE.sub(replace, block)
    missing = [name for name in DIRECTIVES if name not in seen]
    if not missing:
        return text
    # Beside the block's other ssl_* directives: a file with several blocks (the managed file has a
    # ``map`` and a port-80 redirect server after the TLS server) must get them in the TLS server.
    last_ssl = max(_SSL_LINE.finditer(text), key=lambda m: m.start(), default=None)
    if last_ssl is not None:
        pad = last_ssl.group("indent")
        added = "".join(f"{pad}{name} {DIRECTIVES[name]};\n" for name in missing)
        return text[: last_ssl.end()] + added + text[last_ssl.end() :]
    close = text.rstrip().rfind("}")
    if close < 0:
        raise ValueError("not a server block: no closing brace")
    indent = re.search(r"^([ \t]+)\S", text, re.M)
    pad = indent.group(1) if indent else "    "
    added = "".join(f"{pad}{name} {DIRECTIVES[name]};\n" for name in missing)
    head = text[:close].rstrip(" \t")
    if not head.endswith("\n"):
        head += "\n"
    return head + added + text[close:]
