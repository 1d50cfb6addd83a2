# Copyright: octorunbook contributors. MIT licence.
"""Fetch one file whose SHA-1 the node has already listed, without a module run on the node.

``ansible.builtin.fetch`` runs ``stat`` on the node for every file to learn its checksum: one module start
per file (on WinRM, a PowerShell start and its round trips). The role lists the audit folder with its
checksums in one ``find`` / ``win_find`` and fetches only the files the control node's copy lacks, so the
checksum is known already: the file is copied over the connection and proven against it on the control
node. Whatever this cannot prove goes to ``ansible.builtin.fetch`` itself, which stats the node again.
"""

from __future__ import annotations

import os
import re
import secrets
from typing import Any

from ansible.errors import AnsibleActionFail, AnsibleActionSkip
from ansible.utils.hashing import checksum as sha1_of_file
from ansible.utils.path import makedirs_safe

from ansible.plugins.action import ActionBase

SHA1 = re.compile(r"^[0-9a-f]{40}$")


class ActionModule(ActionBase):  # type: ignore[misc]  # ansible-core ships no type information
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("src", "dest", "checksum"))

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result: dict[str, Any] = super().run(tmp, task_vars)
        try:
            if self._task.check_mode:
                raise AnsibleActionSkip("check mode not supported for this module (as ansible.builtin.fetch)")
            src, dest, expected = (self._task.args.get(key) for key in ("src", "dest", "checksum"))
            if not isinstance(src, str) or not isinstance(dest, str) or not src or not dest:
                raise AnsibleActionFail("src and dest are required, each a string")
            expected = str(expected or "").lower()
            if expected and not SHA1.match(expected):
                raise AnsibleActionFail(
                    "checksum must be the file's SHA-1 as the node listed it (40 hex digits)"
                )
            if ".." in dest.replace("\\", "/").split("/"):
                raise AnsibleActionFail(f"dest {dest} leaves its folder")
            dest = os.path.normpath(dest if os.path.isabs(dest) else self._loader.path_dwim(dest))
            if not expected or self._connection.become:
                # no checksum listed (the node could not read the file), or the connection's user may not
                # read what the become user can: fetch stats the node, or slurps the file (a module run)
                return self._fetch(src, dest, task_vars)
            result.update(file=src, dest=dest, checksum=expected)
            if os.path.isfile(dest) and sha1_of_file(dest) == expected:
                result["changed"] = False
                return result
            source = self._remote_expand_user(self._connection._shell.join_path(src))
            makedirs_safe(os.path.dirname(dest))
            partial = f"{dest}.part-{secrets.token_hex(4)}"
            try:
                self._connection.fetch_file(source, partial)
                if sha1_of_file(partial) != expected:
                    # changed on the node since it was listed: fetch proves what it copies against a new stat
                    return self._fetch(src, dest, task_vars)
                os.replace(partial, dest)
            finally:
                if os.path.lexists(partial):
                    os.unlink(partial)
            result["changed"] = True
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _fetch(self, src: str, dest: str, task_vars: dict[str, Any]) -> dict[str, Any]:
        """``ansible.builtin.fetch`` of the same file to the same place (it stats the node first)."""
        task = self._task.copy()
        task.args = {"src": src, "dest": dest, "flat": True}
        fetch = self._shared_loader_obj.action_loader.get(
            "ansible.builtin.fetch",
            task=task,
            connection=self._connection,
            play_context=self._play_context,
            loader=self._loader,
            templar=self._templar,
            shared_loader_obj=self._shared_loader_obj,
        )
        done: dict[str, Any] = fetch.run(task_vars=task_vars)
        return done
