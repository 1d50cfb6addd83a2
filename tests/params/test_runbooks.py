"""Which parameters each runbook reads (params/runbooks.py): every runbook, run through its face with
parameters that record each field read, reads nothing outside its set."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from nginxkit import HOSTNAME, needs_nginx

from octorunbook.headless.inline import run_inline
from octorunbook.params.core import Parameters
from octorunbook.params.runbooks import PARAMETERS
from octorunbook.runbooks.run import ALL_RUNBOOKS, TextReporter
from octorunbook.targets.sandbox import Sandbox


def test_the_sets_are_smaller_than_the_whole_and_every_parameter_is_read_by_some_runbook() -> None:
    assert all(len(names) < len(Parameters.names()) for names in PARAMETERS.values())
    assert set().union(*PARAMETERS.values()) == set(Parameters.names())


class Recording(Parameters):
    """Parameters that remember which of their fields the code reads, and where.

    Operations on the whole set — checking it, writing it into the record, comparing, building it —
    read every field by design and are not counted: the question is what a runbook *uses*.
    """

    reads: ClassVar[dict[str, str] | None] = None
    _quiet: ClassVar[int] = 0

    def __getattribute__(self, name: str) -> Any:
        reads = Recording.reads
        if reads is not None and not Recording._quiet and name in _FIELDS and name not in reads:
            caller = sys._getframe(1).f_code
            reads[name] = f"{Path(caller.co_filename).name}:{caller.co_name}"
        return object.__getattribute__(self, name)


_FIELDS = frozenset(Parameters.names())


def _whole(method: Callable[..., Any]) -> Callable[..., Any]:
    def quietly(self: Any, *args: Any, **kwargs: Any) -> Any:
        Recording._quiet += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            Recording._quiet -= 1

    return quietly


for _name in ("check", "to_record", "coerced", "__post_init__", "__eq__", "__repr__", "__hash__"):
    setattr(Recording, _name, _whole(getattr(Parameters, _name)))


@contextlib.contextmanager
def recording() -> Iterator[dict[str, str]]:
    Recording.reads = reads = {}
    try:
        yield reads
    finally:
        Recording.reads = None


def test_the_recorder_counts_what_is_used_not_the_whole_set_being_checked_or_recorded() -> None:
    params = Recording(hostname="octopus.example.com")
    with recording() as reads:
        params.check()
        params.to_record()
        assert params == Recording(hostname="octopus.example.com")
        assert reads == {}
        assert params.store == "My" and params.dns_names == ("octopus.example.com",)
    assert set(reads) == {"store", "hostname", "extra_dns_names"}


class Reads:
    """What every runbook read over the scenarios, with where each stray read happened."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, str]] = {runbook: {} for runbook in ALL_RUNBOOKS}

    def run(self, runbook: str, params: Parameters, **changes: Any) -> dict[str, Any]:
        values = {**params.to_record(), **changes}
        values["pfx_password_env"] = params.pfx_password_env
        with recording() as reads:
            record = run_inline(runbook, Recording(**values), TextReporter(open(os.devnull, "w")))  # noqa: SIM115
        for name, where in reads.items():
            self.seen[runbook].setdefault(name, where)
        assert list(record["parameters"]) == list(PARAMETERS[runbook])  # the record: what it ran with
        return record

    def outside(self) -> dict[str, dict[str, str]]:
        return {
            runbook: {n: w for n, w in read.items() if n not in PARAMETERS[runbook]}
            for runbook, read in self.seen.items()
        }


def _status(record: dict[str, Any]) -> str:
    return str(record["status"])


def test_no_runbook_reads_a_parameter_outside_its_set(
    make_sandbox: Callable[..., Sandbox], params_for: Callable[..., Parameters]
) -> None:
    """Every runbook in the HTTP.sys sandbox, on its paths that change, plan, fail and roll back."""
    sandbox = make_sandbox()
    params = params_for(sandbox, hostname="localhost")
    reads = Reads()
    assert _status(reads.run("01-import-certificate", params, dry_run=True)) == "planned"
    assert _status(reads.run("01-import-certificate", params)) == "succeeded"
    assert _status(reads.run("02-verify-certificate", params)) == "succeeded"
    Sandbox(sandbox.root).init(fail="configure", start=False)
    assert _status(reads.run("03-add-https-binding", params, force_ssl=True)) == "failed"  # rolled back
    assert _status(reads.run("03-add-https-binding", params, force_ssl=True, hsts_max_age=600)) == "succeeded"
    assert _status(reads.run("05-harden-tls", params)) == "planned"
    assert _status(reads.run("05-harden-tls", params, apply=True)) in {"succeeded", "unchanged"}
    assert _status(reads.run("04-renew-certificate", params)) == "unchanged"
    Sandbox(sandbox.root).init(fail="swap", start=False)
    assert _status(reads.run("04-renew-certificate", params, force_renew=True)) == "failed"  # rolled back
    assert (
        _status(reads.run("04-renew-certificate", params, force_renew=True, retire_old="remove"))
        == "succeeded"
    )
    assert reads.outside() == {runbook: {} for runbook in ALL_RUNBOOKS}
    assert all(reads.seen[runbook] for runbook in ALL_RUNBOOKS)


@needs_nginx
def test_no_runbook_reads_a_parameter_outside_its_set_behind_nginx(
    make_sandbox: Callable[..., Sandbox], params_for: Callable[..., Parameters]
) -> None:
    """The same on the nginx front, where 04 re-plans 03's server block and 05 rewrites it."""
    sandbox = make_sandbox(front="nginx")
    params = params_for(sandbox, front="nginx", hostname=HOSTNAME)
    reads = Reads()
    assert _status(reads.run("01-import-certificate", params)) == "succeeded"
    assert _status(reads.run("02-verify-certificate", params)) == "succeeded"
    assert _status(reads.run("03-add-https-binding", params, force_ssl=True, hsts_max_age=600)) == "succeeded"
    assert _status(reads.run("05-harden-tls", params, apply=True)) in {"succeeded", "unchanged"}
    assert _status(reads.run("04-renew-certificate", params, force_renew=True)) == "succeeded"
    assert reads.outside() == {runbook: {} for runbook in ALL_RUNBOOKS}
