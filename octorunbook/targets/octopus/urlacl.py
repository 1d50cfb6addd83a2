r"""The URL ACL a custom Octopus service account needs to listen on the new https prefix.

HTTP.sys lets a process register a URL only when it is an administrator or a *URL reservation* (URL
ACL) grants its account ``listen``. Octopus running as ``LocalSystem`` needs none. Running as a custom
account (``DOMAIN\svc-octopus``, ``NT AUTHORITY\NETWORK SERVICE``, a virtual ``NT SERVICE\…``), the
restart after ``configure`` fails with "Access Denied error was received trying to start the
HttpListener" and 03 rolls back — unless the reservation is made with the binding::

    sc qc "OctopusDeploy"                                  -> SERVICE_START_NAME : DOMAIN\svc-octopus
    netsh http show urlacl url=https://+:443/              is it reserved already?
    netsh http add urlacl url=https://+:443/ user=DOMAIN\svc-octopus
    netsh http delete urlacl url=https://+:443/            only on the way back, only if this run added it

The service is ``OctopusDeploy`` for the default instance ``OctopusServer`` and ``OctopusDeploy: <name>``
for another. A reservation that exists already is left alone (it may serve another program); the way
back deletes only one this run added. The reservation is a setting of the Octopus instance part
(:class:`UrlAcl` in its state): it is planned, journalled, recorded and restored like its prefixes.

The ``sc qc`` field names and the English ``show urlacl`` labels are parsed; the URL itself is not
translated, so a reservation is found in any display language even where its user cannot be read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...findings import CommandError, TargetError
from ..winsyntax import LOCAL_SYSTEM, service_name

if TYPE_CHECKING:  # annotations only: the sc stand-in imports this module for service_name
    from ...commands import CommandRunner

_START_NAME = re.compile(r"^\s*SERVICE_START_NAME\s*:\s*(.*?)\s*$", re.M)
_RESERVED = re.compile(r"^\s*Reserved URL\s*:\s*(\S+)\s*$", re.M)
_USER = re.compile(r"^\s*User:\s*(.+?)\s*$", re.M)
_ACCOUNT = re.compile(r"^[^\"%\x00-\x1f]{1,256}$")


def reservation_url(port: int) -> str:
    return f"https://+:{port}/"


def needs_reservation(account: str) -> bool:
    return bool(account) and account.strip().lower() not in LOCAL_SYSTEM


def parse_reservations(text: str) -> list[dict[str, str]]:
    """Every ``Reserved URL`` of English ``netsh http show urlacl`` output with its first ``User:``."""
    found: list[dict[str, str]] = []
    for block in re.split(r"(?=^\s*Reserved URL\s*:)", text, flags=re.M):
        url = _RESERVED.search(block)
        if url:
            user = _USER.search(block)
            found.append({"url": url.group(1), "user": user.group(1) if user else ""})
    return found


def parse_start_name(text: str) -> str:
    """``SERVICE_START_NAME`` of ``sc qc`` output, or "" when it is not there."""
    found = _START_NAME.search(text)
    return found.group(1) if found else ""


@dataclass(frozen=True)
class UrlAcl:
    """The reservation of the instance's https URL: whether it exists, for whom, and the service account.

    ``account`` "" means the service's logon account could not be read (nothing is changed then);
    ``user`` "" with ``reserved`` means a reservation whose user the output did not say in English."""

    url: str
    reserved: bool
    user: str = ""
    account: str = ""

    def to_record(self) -> dict[str, Any]:
        return {"url": self.url, "reserved": self.reserved, "user": self.user, "account": self.account}

    @classmethod
    def from_record(cls, data: Any) -> UrlAcl | None:
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            return None
        if not re.fullmatch(r"https://\+:\d{1,5}/", data["url"]):
            raise ValueError(f"a URL reservation {data['url']!r} octorunbook never makes")
        return cls(
            data["url"],
            data.get("reserved") is True,
            str(data.get("user") or ""),
            str(data.get("account") or ""),
        )

    def shown(self) -> str:
        if not self.reserved:
            return "none"
        return f"reserved for {self.user or '(user not read)'}"


class UrlAcls:
    """``sc qc`` and ``netsh http … urlacl`` through the command seam (Windows or the sandbox's stand-ins)."""

    def __init__(self, netsh: str, sc: str, runner: CommandRunner, *, encoding: str | None = None) -> None:
        self.netsh, self.sc, self.runner, self.encoding = netsh, sc, runner, encoding

    def _run(self, argv: list[str], label: str, mutating: bool = False) -> Any:
        return self.runner.run(argv, mutating=mutating, label=label, encoding=self.encoding)

    def service_account(self, instance: str) -> str:
        """The logon account of the instance's service, or "" when it cannot be read."""
        try:
            result = self._run([self.sc, "qc", service_name(instance)], "read the Octopus service account")
        except CommandError:  # no sc here: the account is unknown, said as a warning, nothing changed
            return ""
        return parse_start_name(result.stdout) if result.ok else ""

    def show(self, url: str, account: str) -> UrlAcl:
        result = self._run([self.netsh, "http", "show", "urlacl", f"url={url}"], "read the URL reservation")
        text = result.stdout
        reserved = result.ok and url.lower() in text.lower()
        english = [u for u in _RESERVED.findall(text) if u.lower() == url.lower()]
        users = _USER.findall(text) if english else []
        return UrlAcl(url, reserved, users[0] if users else "", account)

    def add_argv(self, url: str, account: str) -> list[str]:
        if not _ACCOUNT.fullmatch(account):
            raise TargetError(
                "URLACL_ACCOUNT_INVALID",
                f"The Octopus service account {account!r} cannot be given to netsh as a user name.",
                "Add the reservation by hand (`netsh http add urlacl url=… user=…`) and run again.",
            )
        return [self.netsh, "http", "add", "urlacl", f"url={url}", f"user={account}"]

    def add(self, url: str, account: str) -> None:
        result = self._run(self.add_argv(url, account), "reserve the https URL", mutating=True)
        self._proven(url, account, expected=True, result_ok=result.ok, output=result.stdout)

    def delete(self, url: str) -> None:
        result = self._run(
            [self.netsh, "http", "delete", "urlacl", f"url={url}"],
            "remove the URL reservation",
            mutating=True,
        )
        self._proven(url, "", expected=False, result_ok=result.ok, output=result.stdout)

    def _proven(self, url: str, account: str, *, expected: bool, result_ok: bool, output: str) -> None:
        """netsh's words are translated and its exit code has lied before: the reservation is read back."""
        now = self.show(url, account)
        if now.reserved != expected:
            action = "add" if expected else "delete"
            raise TargetError(
                "URLACL_NOT_AS_ASKED",
                f"netsh http {action} urlacl url={url} {'reported success' if result_ok else 'failed'}, "
                f"and the reservation is {'missing' if expected else 'still there'}.",
                f"Run `netsh http show urlacl url={url}` and `netsh http {action} urlacl url={url}"
                f"{' user=' + account if expected else ''}` from an elevated prompt.",
                details={"output": output[-2000:]},
            )
