#!/usr/bin/python
# Copyright: octorunbook contributors. MIT licence.
"""Run one octorunbook command on a POSIX node with secrets in its environment only."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: octorunbook_command
short_description: Run an octorunbook command with secrets passed in its environment only
version_added: "0.1.0"
description:
  - Runs C(octorunbook ...) on the node and returns its exit code and output.
  - Secrets (the PFX password, the Octopus API key) go into the child's environment only, never into
    argv. C(ansible.builtin.command) with the C(environment) keyword would put them on the remote
    shell's command line (visible in the process list, and in C(-vvv) output); here they travel inside
    the module's arguments, which reach the node on stdin when pipelining is on (the role sets it).
  - Every secret value is masked in the returned output as well.
  - For Windows nodes the role uses M(ansible.windows.win_command), whose C(environment) is carried in
    the PowerShell exec wrapper's payload, not on a command line.
options:
  argv:
    description: The command and its arguments, the executable first.
    type: list
    elements: str
    required: true
  secret_env:
    description: Environment variables holding secrets (name to value), added to the child's environment.
    type: dict
    default: {}
  ok_rcs:
    description: Exit codes that are not a failure of the task.
    type: list
    elements: int
    default: [0]
  chdir:
    description: Folder to run the command in.
    type: path
author:
  - octorunbook contributors
"""

EXAMPLES = r"""
- name: Roll out the certificate on this node
  octorunbook.fleet.octorunbook_command:
    argv: [octorunbook, run, /var/lib/octorunbook/params.yaml]
    secret_env: "{{ {'OCTORUNBOOK_PFX_PASSWORD': vault_pfx_password} }}"
  no_log: true
"""

RETURN = r"""
rc:
  description: The command's exit code.
  returned: always
  type: int
stdout:
  description: Its standard output, secrets masked.
  returned: always
  type: str
stderr:
  description: Its standard error, secrets masked.
  returned: always
  type: str
"""

import os  # noqa: E402 - Ansible modules put their documentation first
import subprocess  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "argv": {"type": "list", "elements": "str", "required": True},
            "secret_env": {"type": "dict", "default": {}, "no_log": True},
            "ok_rcs": {"type": "list", "elements": "int", "default": [0]},
            "chdir": {"type": "path"},
        },
        supports_check_mode=False,
    )
    secrets = {str(k): str(v) for k, v in (module.params["secret_env"] or {}).items()}
    env = dict(os.environ)
    env.update(secrets)
    try:
        done = subprocess.run(
            module.params["argv"],
            env=env,
            cwd=module.params["chdir"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        module.fail_json(msg=f"cannot run {module.params['argv'][0]}: {exc.strerror}", rc=127)
        return

    def masked(text: str) -> str:
        for value in secrets.values():
            if value:
                text = text.replace(value, "********")
        return text

    result = {"rc": done.returncode, "stdout": masked(done.stdout), "stderr": masked(done.stderr)}
    if done.returncode not in module.params["ok_rcs"]:
        module.fail_json(msg=f"octorunbook exited {done.returncode}", changed=False, **result)
    # an exit code listed in ok_rcs is not a failure: say so, or Ansible fails any result with rc != 0
    module.exit_json(changed=False, failed=False, **result)


if __name__ == "__main__":
    main()
