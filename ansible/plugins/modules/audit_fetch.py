#!/usr/bin/python
# Copyright: octorunbook contributors. MIT licence.
"""Documentation of the action plugin octorunbook.fleet.audit_fetch (it runs on the control node only)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: audit_fetch
short_description: Fetch a file from the node whose SHA-1 the node has already listed, without a module run
version_added: "0.1.0"
description:
  - Copies one file from the node to the control node over the connection and proves the copy against the
    SHA-1 the node listed for it (M(ansible.builtin.find) with C(get_checksum=true), M(ansible.windows.win_find)
    with C(checksum_algorithm=sha1)).
  - M(ansible.builtin.fetch) runs C(stat) on the node for every file to learn its checksum, one module start per
    file; a listing that already carries the checksums makes those starts unnecessary.
  - A destination that already holds content with that SHA-1 is left as it is (C(changed=false)). A copy is
    written beside the destination and moved over it only once it matches.
  - When the copy does not match (the file changed on the node since it was listed), or when privilege
    escalation is in use (the connection's user may not read the file; C(fetch) reads it with C(slurp)), the
    file is fetched with M(ansible.builtin.fetch) C(flat=true) instead, which stats the node again.
  - Runs on the control node (an action plugin); this file holds its documentation only.
options:
  src:
    description: The file on the node.
    type: str
    required: true
  dest:
    description:
      - The file on the control node (its folders are created). A relative path is taken from the playbook's
        folder, as the C(dest) of M(ansible.builtin.fetch) is. A path with a C(..) part is refused.
    type: str
    required: true
  checksum:
    description:
      - The SHA-1 (40 hex digits) the node listed for C(src).
      - Empty when the listing gave none (a file the node could not read); the file is then fetched with
        M(ansible.builtin.fetch).
    type: str
    default: ""
attributes:
  check_mode:
    support: none
    description: Skipped in check mode, as M(ansible.builtin.fetch) is.
notes:
  - Fetch only files that are not written to while the role runs; a file that changes between the listing and
    the copy costs the C(stat) this plugin avoids, nothing else.
seealso:
  - module: ansible.builtin.fetch
  - module: ansible.builtin.find
author:
  - octorunbook contributors
"""

EXAMPLES = r"""
- name: List the node's audit folder with each file's checksum
  ansible.builtin.find:
    paths: /var/lib/octorunbook/fleet/audit
    recurse: true
    get_checksum: true
  register: node_audit

- name: Fetch each file to the control node, proven against the listed SHA-1
  octorunbook.fleet.audit_fetch:
    src: "{{ item.path }}"
    dest: "/srv/audit/{{ inventory_hostname }}/{{ item.path | basename }}"
    checksum: "{{ item.checksum }}"
  loop: "{{ node_audit.files }}"
"""

RETURN = r"""
dest:
  description: The file on the control node.
  returned: success
  type: str
checksum:
  description: The SHA-1 of the file on the control node.
  returned: success
  type: str
"""
