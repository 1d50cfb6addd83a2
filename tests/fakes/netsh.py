"""Stand-in for ``netsh http show|add|delete sslcert``, printing the documented output.

Reference windows-cert-store-and-httpsys.md §3: the English ``show sslcert`` layout of recent builds,
the shorter Server 2012 R2 layout (``netsh_2012r2``), one with ``Extended Properties`` blocks
(``netsh_extended``) and one with German labels (``netsh_german``); ``add`` fails with ``Error: 183``
when the endpoint is bound, ``1312`` when the certificate has no usable key in the store, ``87`` for a
malformed hash or GUID, and any ``netsh_<n>`` scenario forces error n (``netsh_show_<n>`` makes ``show``
fail with it). Errors are printed in the scenario's language: ``Error: 2``, German ``Fehler: 2``
(``netsh_german``), French ``Erreur : 2`` (``netsh_french``), both in the OEM code page 850.

``http add|update sslcert help`` prints the syntax block of the build the stand-in models (Server 2019 with
KB4490481: every parameter of ``SSLCERT_PARAMETERS``; ``netsh_2012r2`` only the older ones; ``netsh_no_help``
makes ``help`` fail as an unknown command would). ``http add|delete|show urlacl`` keep the reservations in
``urlacl.json`` (URL -> user); ``urlacl_add_noop`` makes ``add urlacl`` report success and reserve nothing.
"""

from __future__ import annotations

import re
import sys

import _state

ENGLISH = [
    ("Certificate Hash", "{hash}"),
    ("Application ID", "{appid}"),
    ("Certificate Store Name", "{store}"),
    ("Verify Client Certificate Revocation", "Enabled"),
    ("Verify Revocation Using Cached Client Certificate Only", "Disabled"),
    ("Usage Check", "Enabled"),
    ("Revocation Freshness Time", "0"),
    ("URL Retrieval Timeout", "0"),
    ("Ctl Identifier", "(null)"),
    ("Ctl Store Name", "(null)"),
    ("DS Mapper Usage", "Disabled"),
    ("Negotiate Client Certificate", "Disabled"),
]
NEWER = [
    ("Reject Connections", "Disabled"),
    ("Disable HTTP2", "Not Set"),
    ("Disable QUIC", "Not Set"),
    ("Disable TLS1.2", "Not Set"),
    ("Disable TLS1.3", "Not Set"),
    ("Disable OCSP Stapling", "Not Set"),
    ("Enable Token Binding", "Not Set"),
    ("Log Extended Events", "Not Set"),
    ("Disable Legacy TLS Versions", "Not Set"),
    ("Enable Session Ticket", "Not Set"),
    ("Disable Session ID", "Not Set"),
    ("Enable Caching Client Hello", "Not Set"),
]
GERMAN = [
    ("Zertifikathash", "{hash}"),
    ("Anwendungs-ID", "{appid}"),
    ("Zertifikatspeichername", "{store}"),
    ("Überprüfung der Clientzertifikatsperre", "Enabled"),
    ("Sperrüberprüfung nur mit zwischengespeichertem Clientzertifikat", "Disabled"),
    ("Verwendungsüberprüfung", "Enabled"),
    ("Aktualitätszeit der Sperrung", "0"),
    ("URL-Abruftimeout", "0"),
    ("Ctl-Bezeichner", "(null)"),
    ("Ctl-Speichername", "(null)"),
    ("DS-Zuordnungsverwendung", "Disabled"),
    ("Clientzertifikat aushandeln", "Disabled"),
]
# The parameter names `add sslcert help` lists, in the order of the syntax block (reference §3.1).
OLDER_PARAMETERS = (
    "verifyclientcertrevocation",
    "verifyrevocationwithcachedclientcertonly",
    "usagecheck",
    "revocationfreshnesstime",
    "urlretrievaltimeout",
    "sslctlidentifier",
    "sslctlstorename",
    "dsmapperusage",
    "clientcertnegotiation",
)
NEWER_PARAMETERS = (
    "reject",
    "disablehttp2",
    "disablequic",
    "disabletls12",
    "disabletls13",
    "disableocspstapling",
    "enabletokenbinding",
    "logextendedevents",
    "disablelegacytls",
    "enablesessionticket",
    "disablesessionid",
)
EXTENDED = """ Extended Properties:
    PropertyId                   : 0
    Receive Window               : 1048576
 Extended Properties:
    PropertyId                   : 1
    Max Settings Per Frame       : 2796202
    Max Settings Per Minute      : 4294967295
"""


def line(label: str, value: str) -> str:
    # netsh pads labels to 29 columns; longer labels get a single space (documented irregularity).
    return f"    {label.ljust(28)} : {value}" if len(label) <= 28 else f"    {label} : {value}"


def render(endpoint: str, binding: dict[str, str], scenarios: set[str]) -> str:
    german = "netsh_german" in scenarios
    first = ("IP:Port" if german else "IP:port") if not endpoint[0].isalpha() else "Hostname:port"
    fields = GERMAN if german else ENGLISH + ([] if "netsh_2012r2" in scenarios else NEWER)
    lines = [line(first, endpoint)]
    lines += [line(label, value.format(**binding)) for label, value in fields]
    text = "\n".join(lines) + "\n"
    if "netsh_extended" in scenarios:
        text += EXTENDED
    return text


FAILED = {
    "english": "SSL Certificate {verb} failed, Error: {number}",
    "german": "Fehler beim {verb} des SSL-Zertifikats. Fehler: {number}",
    "french": "\u00c9chec de {verb} du certificat SSL, Erreur : {number}",
}
LOCAL_MESSAGES = {
    "german": {2: "Das System kann die angegebene Datei nicht finden.", 5: "Zugriff verweigert"},
    "french": {2: "Le fichier sp\u00e9cifi\u00e9 est introuvable.", 5: "Acc\u00e8s refus\u00e9."},
}


def language() -> str:
    scenarios = _state.scenarios()
    return "german" if "netsh_german" in scenarios else "french" if "netsh_french" in scenarios else "english"


def failure(verb: str, number: int) -> str:
    message = LOCAL_MESSAGES.get(language(), {}).get(number, _state.NETSH_ERRORS.get(number, ""))
    return "\n" + FAILED[language()].format(verb=verb, number=number) + "\n" + message + "\n\n"


def show(args: dict[str, str]) -> int:
    scenarios = _state.scenarios()
    forced = [int(m.group(1)) for s in scenarios if (m := re.fullmatch(r"netsh_show_(\d+)", s))]
    if forced:
        sys.stdout.write(failure("show", forced[0]))
        return 1
    german = "netsh_german" in scenarios
    header = (
        "\nSSL-Zertifikatbindungen:\n------------------------\n\n"
        if german
        else "\nSSL Certificate bindings:\n-------------------------\n\n"
    )
    current = _state.bindings()
    wanted = args.get("ipport")
    chosen = {k: v for k, v in current.items() if wanted is None or k == wanted}
    if wanted is not None and not chosen:
        # Wording for a missing binding is undocumented; the driver relies only on "no record".
        message = LOCAL_MESSAGES.get(language(), {}).get(2, _state.NETSH_ERRORS[2])
        sys.stdout.write(header + message + "\n\n")
        return 1
    sys.stdout.write(header + "\n".join(render(k, v, scenarios) for k, v in chosen.items()) + "\n")
    return 0


def add(args: dict[str, str], *, replace: bool) -> int:
    if "ipport" not in args or "certhash" not in args or "appid" not in args:
        sys.stdout.write(
            "\nOne or more essential parameters were not entered.\nVerify the required parameters, and reenter them.\n\n"
            "The syntax supplied for this command is not valid. Check help for the correct syntax.\n\n"
        )
        return 1
    number = _state.add_binding(
        args["ipport"], args["certhash"], args["appid"], args.get("certstorename"), replace=replace
    )
    verb = "update" if replace else "add"
    if number:
        sys.stdout.write(failure(verb, number))
        return 1
    sys.stdout.write(f"\nSSL Certificate successfully {'updated' if replace else 'added'}\n\n")
    return 0


def delete(args: dict[str, str]) -> int:
    forced = [int(m.group(1)) for s in _state.scenarios() if (m := re.fullmatch(r"netsh_(\d+)", s))]
    current = _state.bindings()
    number = forced[0] if forced else (0 if args.get("ipport") in current else 2)
    if number:
        sys.stdout.write(failure("deletion", number))
        return 1
    del current[args["ipport"]]
    _state.write_json("httpsys.json", current)
    sys.stdout.write("\nSSL Certificate successfully deleted\n\n")
    return 0


def usage(verb: str) -> int:
    """``netsh http <verb> sslcert help``: the syntax, one ``[name=]`` token per parameter of this build."""
    scenarios = _state.scenarios()
    if "netsh_no_help" in scenarios:
        sys.stdout.write(f"The following command was not found: http {verb} sslcert help.\n")
        return 1
    names = OLDER_PARAMETERS + (() if "netsh_2012r2" in scenarios else NEWER_PARAMETERS)
    lines = [
        f"\nUsage: {verb} sslcert [ipport=]IP Address:port | [hostnameport=]<name:port> | [ccs=]<port>",
        "         [certhash=]string",
        "         [appid=]GUID",
        "         [[certstorename=]string]",
        *(f"         [[{name}=]value]" for name in names),
        "\nParameters:\n",
        "    Tag              Value",
        "    ipport         - IP address and port for the binding.",
        "    certhash       - The SHA hash of the certificate. This hash is 20 bytes long",
        "                     and specified as a hex string.",
        "    appid          - GUID to identify the owning application.",
    ]
    sys.stdout.write("\n".join(lines) + "\n\n")
    return 0


def urlacl(verb: str, args: dict[str, str]) -> int:
    """``netsh http add|delete|show urlacl``, the reservations in ``urlacl.json`` (URL -> user)."""
    reservations: dict[str, str] = _state.read_json("urlacl.json", {})
    url = args.get("url", "")
    found = {u: user for u, user in reservations.items() if not url or u.lower() == url.lower()}
    if verb == "show":
        sys.stdout.write("\nURL Reservations:\n-----------------\n\n")
        for reserved, user in sorted(found.items()):
            sys.stdout.write(
                f"    Reserved URL            : {reserved}\n        User: {user}\n"
                "            Listen: Yes\n            Delegate: No\n            SDDL: D:(A;;GX;;;S-1-5-21-0)\n\n"
            )
        return 0
    if verb == "add" and url and args.get("user"):
        if found:
            sys.stdout.write(
                "\nUrl reservation add failed, Error: 183\nCannot create a file when that file already exists.\n\n"
            )
            return 1
        if "urlacl_add_noop" not in _state.scenarios():
            reservations[url] = args["user"]
            _state.write_json("urlacl.json", reservations)
        sys.stdout.write("\nURL reservation successfully added\n\n")
        return 0
    if verb == "delete" and url:
        if not found:
            sys.stdout.write(
                "\nUrl reservation delete failed, Error: 2\nThe system cannot find the file specified.\n\n"
            )
            return 1
        for reserved in found:
            del reservations[reserved]
        _state.write_json("urlacl.json", reservations)
        sys.stdout.write("\nURL reservation successfully deleted\n\n")
        return 0
    sys.stdout.write("\nOne or more essential parameters were not entered.\n\n")
    return 1


def main(argv: list[str]) -> int:
    _state.log_call("netsh", argv)
    if "netsh_german" in _state.scenarios() or "netsh_french" in _state.scenarios():
        sys.stdout.reconfigure(encoding="cp850")  # type: ignore[union-attr]  # the console's OEM code page
    if (
        argv[:1] == ["http"]
        and argv[1:2] in (["add"], ["update"])
        and argv[2:]
        in (
            ["sslcert", "help"],
            ["sslcert", "?"],
        )
    ):
        return usage(argv[1])
    if len(argv) >= 3 and argv[0] == "http" and argv[2] == "urlacl" and argv[1] in ("add", "delete", "show"):
        args = dict(token.partition("=")[::2] for token in argv[3:])
        return urlacl(argv[1], {k.lower(): v for k, v in args.items()})
    if len(argv) < 3 or argv[0] != "http" or argv[2] != "sslcert":
        sys.stdout.write(f"The following command was not found: {' '.join(argv)}.\n")
        return 1
    args: dict[str, str] = {}
    for token in argv[3:]:
        key, sep, value = token.partition("=")
        if not sep:
            sys.stdout.write(f"The following command was not found: {' '.join(argv)}.\n")
            return 1
        args[key.lower()] = value
    verb = argv[1]
    if verb == "show":
        return show(args)
    if verb in ("add", "update"):
        return add(args, replace=verb == "update")
    if verb == "delete":
        return delete(args)
    sys.stdout.write(f"The following command was not found: {' '.join(argv)}.\n")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
