"""The managed nginx server block: rendered from the intent, read back, and tested as a candidate.

The file is the state: a run renders the text it wants, and the front is unchanged exactly when the
file already holds that text. Its first line marks it as ours; a file without that line is somebody
else's and is never overwritten (``NGINX_CONFIG_UNMANAGED``).

What the block does, and why:

* ``listen <port> ssl`` (``http2`` as a listen parameter from 1.9.5 to 1.25.0, ``http2 on;`` from
  1.25.1, where nginx deprecated the parameter), TLS 1.2 and 1.3 only, and for TLS 1.2 only ECDHE
  suites with AES-GCM or ChaCha20 (runbook 05's list, ``hardening.nginx``): nginx's own default
  ``HIGH:!aNULL:!MD5`` lets an RSA certificate be used with RSA key exchange and CBC-SHA1 suites
  (``TLS_WEAK_CIPHER`` in the posture scan), so a block this tool writes is hardened from its first run;
* ``proxy_pass`` to Octopus's plain-HTTP address with ``Host``, ``X-Forwarded-For``,
  ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` (Octopus builds its links from them since 3.5.2) and
  the WebSocket upgrade headers (the portal's live updates); the ``map`` that turns ``Upgrade`` into
  ``Connection`` has a name of our own, because two maps of one variable stop nginx from starting;
* ``force_ssl``: a second server on the HTTP port that only answers ``308`` to HTTPS (308 keeps the
  method and body, 301 may turn a POST into a GET) — never a redirect and a plain proxy on one port. The
  Location names the portal's host name, not the request's ``Host``: when this is the only server on the
  port nginx sends it every request, and ``$host`` would redirect to whatever name a client made up;
* ``hsts_max_age`` > 0: ``Strict-Transport-Security`` on every answer (``always``: errors too).

Every value that lands in the file is checked first, because nginx reads the file as syntax: a path
with ``;`` would end the directive and start another (``cert_dir: "/x;include /tmp/evil.conf;#"``),
``$`` would make ``ssl_certificate`` a variable, a quote or a backslash would change the quoting.
``nginx_path`` refuses those characters and quotes a path that holds white space.

``nginx -t`` cannot be pointed at one server block: it tests a whole configuration. The candidate is
therefore tested through a copy of the main configuration (written beside it, so relative paths mean
the same) whose ``include`` of the managed file names the candidate instead.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path, PurePath

from octorunbook.emit import nginx_argument, nginx_comment, nginx_directive, refuse
from octorunbook.targets.hardening.nginx import NGINX_CIPHERS, NGINX_PROTOCOLS

from ...findings import TargetError
from .process import nginx_path, read_config

MARKER = "# Managed by octorunbook"
HEADER = (
    f"{MARKER} (runbook 03) — do not edit: the next run rewrites this file. "
    "Remove this line to take the file over by hand.\n"
)
_INCLUDE = re.compile(r"^(?P<indent>[ \t]*)include[ \t]+(?P<pattern>\"[^\"]+\"|'[^']+'|[^;\s]+)[ \t]*;", re.M)


@dataclass(frozen=True)
class SiteSettings:
    """Everything the server block says, as typed values; ``render`` turns it into nginx text."""

    hostname: str
    https_port: int  # the port nginx listens on (the sandbox maps 443 to a high port)
    public_https_port: int  # the port browsers use, for the redirect's Location
    fullchain: Path
    privkey: Path
    thumbprint: str
    upstream: str
    http2: str  # "listen" | "directive" | ""
    hsts_max_age: int = 0
    http_port: int | None = None  # a server on the HTTP port: redirect (force_ssl) or plain proxy
    redirect_http: bool = True
    listen_address: str = ""
    extra_directives: tuple[str, ...] = ()


def check_directives(lines: tuple[str, ...]) -> tuple[str, ...]:
    """Extra simple directives for the TLS server (``client_max_body_size 100m;``): one per line, each one
    directive (:func:`octorunbook.emit.nginx_directive`), else ``NGINX_DIRECTIVE_INVALID``."""
    return tuple(
        nginx_directive(
            line,
            "extra directive",
            code="NGINX_DIRECTIVE_INVALID",
            remedy="Give each extra directive as one line such as `client_max_body_size 100m;`.",
        )
        for line in lines
    )


def _bare(value: str, what: str) -> str:
    """A value nginx must read as one bare word (a host name in a URL): syntax or white space refused."""
    if re.search(r"\s", value):
        refuse("nginx's configuration", what, value, "it holds white space")
    return nginx_argument(value, what)


def _listen(address: str, port: int) -> str:
    return _bare(f"{address}:{port}" if address else str(port), "listen address")


def _proxy_location(scheme: str) -> list[str]:
    return [
        "    location / {",
        "        proxy_pass UPSTREAM;",
        "        proxy_http_version 1.1;",
        "        proxy_set_header Host $host;",
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        f"        proxy_set_header X-Forwarded-Proto {scheme};",
        "        proxy_set_header X-Forwarded-Host $http_host;",
        "        proxy_set_header Upgrade $http_upgrade;",
        "        proxy_set_header Connection $octorunbook_connection_upgrade;",
        "        proxy_read_timeout 300s;",
        "    }",
    ]


def render(s: SiteSettings) -> str:
    """The whole managed file for ``s``: deterministic, so equal settings give equal text. Every value goes
    through :mod:`octorunbook.emit` here, whatever checked the parameters before."""
    hostname = _bare(s.hostname, "hostname")
    upstream = _bare(s.upstream, "Octopus upstream")
    port_text = "" if s.public_https_port == 443 else f":{s.public_https_port}"
    comment = nginx_comment(
        f"portal https://{hostname}{port_text}/ -> {upstream}; certificate {s.thumbprint}"
    )
    extra = check_directives(s.extra_directives)
    listen = f"    listen {_listen(s.listen_address, s.https_port)} ssl" + (
        " http2;" if s.http2 == "listen" else ";"
    )
    lines = [
        comment,
        "",
        "map $http_upgrade $octorunbook_connection_upgrade {",
        "    default upgrade;",
        "    ''      close;",
        "}",
        "",
        "server {",
        listen,
        *(["    http2 on;"] if s.http2 == "directive" else []),
        f"    server_name {hostname};",
        "",
        f"    ssl_certificate     {nginx_path(s.fullchain, 'certificate path')};",
        f"    ssl_certificate_key {nginx_path(s.privkey, 'key path')};",
        f"    ssl_protocols {NGINX_PROTOCOLS};",
        f"    ssl_ciphers {NGINX_CIPHERS};",
        "    ssl_prefer_server_ciphers off;",
        *(
            [f'    add_header Strict-Transport-Security "max-age={s.hsts_max_age}" always;']
            if s.hsts_max_age > 0
            else []
        ),
        *(f"    {d}" for d in extra),
        "",
        *_proxy_location("https"),
        "}",
    ]
    if s.http_port is not None:
        lines += ["", "server {", f"    listen {_listen(s.listen_address, s.http_port)};"]
        lines.append(f"    server_name {hostname};")
        if s.redirect_http:
            lines += [f"    return 308 https://{hostname}{port_text}$request_uri;", "}"]
        else:
            lines += ["", *_proxy_location("http"), "}"]
    return HEADER + "\n".join(lines).replace("UPSTREAM", upstream) + "\n"


def is_managed(text: str) -> bool:
    return text.startswith(MARKER)


@dataclass(frozen=True)
class SiteSummary:
    """What a server-block file says, read back for the plan table (any file, ours or not)."""

    listen: tuple[str, ...]
    server_name: str
    certificate: str
    upstream: str
    redirect: str
    hsts: str


def _first(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.M)
    return match.group(1).strip() if match else ""


def public_port(text: str) -> int | None:
    """The https port browsers use, from the ``# portal https://host[:port]/`` line 03 writes (None:
    not a file 03 wrote, or no such line)."""
    found = re.search(r"^# portal https://[^\s/:]+(?::(\d{1,5}))?/ ", text, re.M)
    if found is None:
        return None
    return int(found.group(1)) if found.group(1) else 443


def summarize(text: str) -> SiteSummary:
    return SiteSummary(
        listen=tuple(m.strip() for m in re.findall(r"^\s*listen\s+([^;]+);", text, re.M)),
        server_name=_first(r"^\s*server_name\s+([^;]+);", text),
        certificate=_first(r"^\s*ssl_certificate\s+([^;]+);", text),
        upstream=_first(r"^\s*proxy_pass\s+([^;]+);", text),
        redirect=_first(r"^\s*return\s+(30[1278][^;]*);", text),
        hsts=_first(r"Strict-Transport-Security\s+\"?([^\";]+)", text),
    )


def _unquote(pattern: str) -> str:
    return pattern[1:-1] if pattern[:1] in {"'", '"'} else pattern


def candidate_main_config(main_conf: Path, site: Path, candidate: Path | None) -> str:
    """The main configuration's text with ``site`` replaced by ``candidate`` (or left out when None).

    Every ``include`` in the main file whose pattern covers ``site`` is expanded into the files it
    covers today, in nginx's (sorted) order, with the candidate in the managed file's place. Includes
    nested in other included files are not followed: the managed file must be included by the main
    configuration itself, as Debian's ``include /etc/nginx/conf.d/*.conf;`` does.
    """
    text = read_config(main_conf)
    if text is None:
        raise TargetError(
            "NGINX_CONF_NOT_FOUND",
            f"{main_conf} cannot be read as nginx's main configuration (missing, not a regular file, or "
            "over a megabyte).",
            "Set nginx_conf_dir to the folder of the nginx.conf the running nginx uses (Debian: /etc/nginx); "
            "nothing was changed.",
        )
    base = main_conf.parent
    found = False

    def expand(match: re.Match[str]) -> str:
        nonlocal found
        pattern = _unquote(match.group("pattern"))
        absolute = pattern if pattern.startswith("/") else str(base / pattern)
        if not PurePath(str(site)).match(absolute):
            return match.group(0)
        found = True
        files = sorted({*glob.glob(absolute), str(site)})
        chosen = [str(candidate) if f == str(site) else f for f in files if f != str(site) or candidate]
        indent = match.group("indent")
        lines = (f"{indent}include {nginx_path(f, 'included file', quote=True)};" for f in chosen)
        return "\n".join(lines) or f"{indent}# (managed site removed)"

    rewritten = _INCLUDE.sub(expand, text)
    if not found:
        raise TargetError(
            "NGINX_CONFIG_NOT_INCLUDED",
            f"{main_conf} does not include {site}: nginx would never read the managed server block.",
            f"Add `include {site.parent}/*.conf;` inside the http {{}} block of {main_conf}, or set "
            "nginx_conf_dir to the configuration nginx really runs with.",
        )
    return rewritten
