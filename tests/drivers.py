"""The drivers inside an HTTP.sys target's parts, for tests that arrange a state by hand (a binding made
behind octorunbook's back, a configuration changed by another tool). Runbooks never do this: they go
through the parts."""

from __future__ import annotations

from octorunbook.targets.base import Target
from octorunbook.targets.httpsys import HttpSys
from octorunbook.targets.httpsys.front import HttpSysFront
from octorunbook.targets.octopus import OctopusServer
from octorunbook.targets.octopus.instance import OctopusServerInstance


def httpsys_of(target: Target) -> HttpSys:
    front = target.parts.front
    assert isinstance(front, HttpSysFront), front
    return front.httpsys


def octopus_of(target: Target) -> OctopusServer:
    instance = target.parts.instance
    assert isinstance(instance, OctopusServerInstance), instance
    return instance.octopus
