"""Renderings of a :class:`~octorunbook.evidence.check.CheckResult` for machines: JSON and a Prometheus textfile.

The textfile is for node-exporter's textfile collector (``--collector.textfile.directory``): it reads
every ``*.prom`` file in the folder on each scrape, so the file is written beside itself under a
hidden temporary name and renamed into place — a scrape never sees half a file.

Metrics (gauges, one series per checked hostname)::

    octorunbook_certificate_expiry_seconds{hostname,thumbprint}      seconds until notAfter (negative: expired)
    octorunbook_certificate_not_after_timestamp_seconds{hostname,thumbprint}
    octorunbook_certificate_check_status{hostname}                   0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN
    octorunbook_certificate_check_timestamp_seconds{hostname}        when the check ran

Alert on the timestamp (``... - time() < 14*86400``): it stays right even when the check stops running,
and alert on the check timestamp growing old for exactly that case.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from octorunbook.emit import json_document, prometheus_label
from octorunbook.evidence.check import CheckResult
from octorunbook.findings import InputError

_HELP = {
    "octorunbook_certificate_expiry_seconds": "Seconds until the served certificate's notAfter "
    "(negative once expired), as seen by octorunbook check.",
    "octorunbook_certificate_not_after_timestamp_seconds": "The served certificate's notAfter as a "
    "Unix timestamp.",
    "octorunbook_certificate_check_status": "Result of the last octorunbook check: 0 OK, 1 WARNING, "
    "2 CRITICAL, 3 UNKNOWN.",
    "octorunbook_certificate_check_timestamp_seconds": "When the last octorunbook check ran (Unix time).",
}


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{name}="{prometheus_label(value, name)}"' for name, value in labels.items()) + "}"


def prometheus_text(result: CheckResult) -> str:
    """The textfile for one check (an UNKNOWN check has a status but no certificate series)."""
    lines: list[str] = []

    def metric(name: str, labels: str, value: float | int) -> None:
        lines.append(f"# HELP {name} {_HELP[name]}")
        lines.append(f"# TYPE {name} gauge")
        lines.append(f"{name}{labels} {value}")

    if result.served is not None:
        cert = _labels(hostname=result.hostname, thumbprint=result.served.thumbprint)
        seconds = result.seconds_left
        metric("octorunbook_certificate_expiry_seconds", cert, int(seconds if seconds is not None else 0))
        metric(
            "octorunbook_certificate_not_after_timestamp_seconds",
            cert,
            int(result.served.not_after.timestamp()),
        )
    host = _labels(hostname=result.hostname)
    metric("octorunbook_certificate_check_status", host, result.status)
    metric("octorunbook_certificate_check_timestamp_seconds", host, int(result.checked_at.timestamp()))
    return "\n".join(lines) + "\n"


def write_textfile(result: CheckResult, path: str | Path) -> Path:
    """Write the textfile atomically (temporary file in the same folder, then rename)."""
    target = Path(path)
    if target.suffix != ".prom":
        raise InputError(
            "PROMETHEUS_FILE_INVALID",
            f"{target} does not end in .prom; node-exporter's textfile collector would ignore it.",
            "Name it like /var/lib/node_exporter/textfile_collector/octorunbook.prom.",
        )
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(
            "PROMETHEUS_DIR_MISSING",
            f"The folder {folder} does not exist.",
            "Create it, or point --prometheus at node-exporter's textfile collector folder.",
        )
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(prometheus_text(result))
        os.chmod(tmp, 0o644)  # node-exporter usually runs as its own user
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def json_text(result: CheckResult) -> str:
    return json_document(result.to_record())
