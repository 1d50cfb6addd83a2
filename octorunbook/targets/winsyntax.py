"""The Windows commands' documented names and numbers, in one leaf module.

The drivers parse with them (``httpsys``, ``octopus``) and the sandbox's stand-ins print with them. A
stand-in is a process started for every ``netsh``, ``reg``, ``sc`` or ``Octopus.Server`` call a run makes,
so this module imports nothing: the parsers' packages (dataclasses, regular expressions, the findings)
would cost each of those starts more than the command itself.
"""

from __future__ import annotations

# ---- Octopus ------------------------------------------------------------------------------
DEFAULT_INSTANCE = "OctopusServer"
OCTOPUS_APP_ID = "{E2096A4C-2391-4BE1-9F17-E353F930E7F1}"  # the application id Octopus binds with
# Accounts that are administrators of the machine for HTTP.sys: no reservation needed.
LOCAL_SYSTEM = frozenset({"localsystem", ".\\localsystem", "nt authority\\system", "system"})


def service_name(instance: str) -> str:
    """The Windows service of an Octopus instance (``Octopus.Server.exe service --install`` names it)."""
    return "OctopusDeploy" if instance == DEFAULT_INSTANCE else f"OctopusDeploy: {instance}"


# ---- netsh http show sslcert ---------------------------------------------------------------
# The per-binding settings after the store name, in the order netsh prints them (reference §3.2):
# (label, add/update parameter, default as printed). Old flags print Enabled/Disabled, new ones Set/Not Set.
SSLCERT_SETTINGS: tuple[tuple[str, str, str], ...] = (
    ("Verify Client Certificate Revocation", "verifyclientcertrevocation", "Enabled"),
    (
        "Verify Revocation Using Cached Client Certificate Only",
        "verifyrevocationwithcachedclientcertonly",
        "Disabled",
    ),
    ("Usage Check", "usagecheck", "Enabled"),
    ("Revocation Freshness Time", "revocationfreshnesstime", "0"),
    ("URL Retrieval Timeout", "urlretrievaltimeout", "0"),
    ("Ctl Identifier", "sslctlidentifier", "(null)"),
    ("Ctl Store Name", "sslctlstorename", "(null)"),
    ("DS Mapper Usage", "dsmapperusage", "Disabled"),
    ("Negotiate Client Certificate", "clientcertnegotiation", "Disabled"),
    ("Reject Connections", "reject", "Disabled"),
    ("Disable HTTP2", "disablehttp2", "Not Set"),
    ("Disable QUIC", "disablequic", "Not Set"),
    ("Disable TLS1.2", "disabletls12", "Not Set"),
    ("Disable TLS1.3", "disabletls13", "Not Set"),
    ("Disable OCSP Stapling", "disableocspstapling", "Not Set"),
    ("Enable Token Binding", "enabletokenbinding", "Not Set"),
    ("Log Extended Events", "logextendedevents", "Not Set"),
    ("Disable Legacy TLS Versions", "disablelegacytls", "Not Set"),
    ("Enable Session Ticket", "enablesessionticket", "Not Set"),
    ("Disable Session ID", "disablesessionid", "Not Set"),
)

# ---- the HTTP service's registry (reg query) ----------------------------------------------
PARAMETERS_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters"

# HTTP_SERVICE_CONFIG_SSL_FLAG_* (http.h) -> the netsh add/update sslcert parameter that sets it (=enable).
# 0x4 NO_RAW_FILTER (pre-Vista) and 0x2000 ENABLE_CLIENT_CORRELATION have no parameter we carry: unknown.
FLAG_PARAMETERS: dict[int, str] = {
    0x00000001: "dsmapperusage",  # USE_DS_MAPPER
    0x00000002: "clientcertnegotiation",  # NEGOTIATE_CLIENT_CERT
    0x00000008: "reject",  # REJECT
    0x00000010: "disablehttp2",  # DISABLE_HTTP2
    0x00000020: "disablequic",  # DISABLE_QUIC
    0x00000040: "disabletls13",  # DISABLE_TLS13
    0x00000080: "disableocspstapling",  # DISABLE_OCSP_STAPLING
    0x00000100: "enabletokenbinding",  # ENABLE_TOKEN_BINDING
    0x00000200: "logextendedevents",  # LOG_EXTENDED_EVENTS
    0x00000400: "disablelegacytls",  # DISABLE_LEGACY_TLS
    0x00000800: "enablesessionticket",  # ENABLE_SESSION_TICKET
    0x00001000: "disabletls12",  # DISABLE_TLS12
    0x00004000: "disablesessionid",  # DISABLE_SESSION_ID
}

# DefaultCertCheckMode values (HTTP_SERVICE_CONFIG_SSL_PARAM) -> (parameter, value). 0x4 "freshness time
# enabled" is carried through revocationfreshnesstime, so it is known only together with a non-zero time.
CHECK_MODE_PARAMETERS: dict[int, tuple[str, str]] = {
    0x00000001: ("verifyclientcertrevocation", "disable"),
    0x00000002: ("verifyrevocationwithcachedclientcertonly", "enable"),
    0x00010000: ("usagecheck", "disable"),
}
FRESHNESS_TIME_ENABLED = 0x00000004

# value name -> parameter, for values carried as they are (a number, a name)
VALUE_PARAMETERS: dict[str, str] = {
    "DefaultRevocationFreshnessTime": "revocationfreshnesstime",
    "DefaultRevocationUrlRetrievalTimeout": "urlretrievaltimeout",
    "DefaultSslCtlIdentifier": "sslctlidentifier",
    "DefaultSslCtlStoreName": "sslctlstorename",
}


__all__ = [
    "CHECK_MODE_PARAMETERS",
    "DEFAULT_INSTANCE",
    "FLAG_PARAMETERS",
    "FRESHNESS_TIME_ENABLED",
    "LOCAL_SYSTEM",
    "OCTOPUS_APP_ID",
    "PARAMETERS_KEY",
    "SSLCERT_SETTINGS",
    "VALUE_PARAMETERS",
    "service_name",
]
