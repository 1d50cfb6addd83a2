"""The TLS hardening plan (runbook 05): exact changes, what they need, what they may break, and rollback.

* Windows (:mod:`.windows`): per binding with ``disablelegacytls=enable`` on Server 2019+ (no reboot),
  else SCHANNEL registry values machine-wide (read first, exported before a change, reboot needed).
* nginx (:mod:`.nginx`): ``ssl_protocols`` and ``ssl_ciphers`` in the managed server block (reload).

The proof of a hardening is the post-change :func:`octorunbook.evidence.posture.scan`.
"""

from __future__ import annotations

from octorunbook.targets.hardening.nginx import (
    NGINX_CIPHERS,
    NGINX_PROTOCOLS,
    harden_server_block,
    nginx_directives,
    plan_nginx,
)
from octorunbook.targets.hardening.plan import HardenableFront, HardeningPlan, RegistryChange, RegistryValue
from octorunbook.targets.hardening.windows import (
    SchannelApplied,
    SchannelState,
    apply_schannel,
    desired_schannel,
    plan_disable_legacy_tls,
    plan_schannel,
    plan_windows,
    read_backup,
    read_schannel,
    rollback_schannel,
)

__all__ = [
    "NGINX_CIPHERS",
    "NGINX_PROTOCOLS",
    "HardenableFront",
    "HardeningPlan",
    "RegistryChange",
    "RegistryValue",
    "SchannelApplied",
    "SchannelState",
    "apply_schannel",
    "desired_schannel",
    "harden_server_block",
    "nginx_directives",
    "plan_disable_legacy_tls",
    "plan_nginx",
    "plan_schannel",
    "plan_windows",
    "read_backup",
    "read_schannel",
    "rollback_schannel",
]
