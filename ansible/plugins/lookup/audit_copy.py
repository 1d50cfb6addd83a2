# Copyright: octorunbook contributors. MIT licence.
"""What the control node's copy of a node's audit folder holds: relative path -> SHA-1 of each regular file."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: audit_copy
author:
  - octorunbook contributors
version_added: "0.1.0"
short_description: The relative path and SHA-1 of every regular file under a folder on the control node
description:
  - Returns, for each folder given, a dictionary that maps the path of every regular file under it (relative
    to the folder, with C(/) separators; recursive, hidden files included) to the SHA-1 of its content, as
    40 lowercase hex digits.
  - The digests are the ones M(ansible.builtin.find) returns with C(get_checksum=true)
    and M(ansible.windows.win_find) with C(checksum_algorithm=sha1), so a task can compare a node's files with
    the control node's copy and fetch only those the copy lacks or holds with other content.
  - Nothing under the folder is followed. A symbolic link (to a file or to a folder), a FIFO, a socket or a
    device is left out, and a linked folder is not descended; each file is opened without following a link
    and read in 64 KiB chunks.
  - A folder that does not exist gives an empty dictionary.
  - Runs on the control node, when the expression that calls it is templated; no module runs for it.
options:
  _terms:
    description:
      - Folders on the control node. A relative path is taken from the playbook's folder, as the C(dest) of
        M(ansible.builtin.fetch) is.
    type: list
    elements: path
    required: true
notes:
  - The lookup returns one dictionary per folder, in a list. C(lookup) with one folder gives that dictionary
    itself; C(query) gives the list.
  - A file that cannot be read (other than one removed while the folder is read) fails the lookup.
seealso:
  - module: ansible.builtin.find
  - module: ansible.builtin.fetch
"""

EXAMPLES = r"""
- name: Show what the control node holds of this node's audit folder
  ansible.builtin.debug:
    msg: "{{ lookup('octorunbook.fleet.audit_copy', portal_https_audit_root ~ '/' ~ inventory_hostname) }}"

- name: Read what the control node already holds of this node's audit folder
  ansible.builtin.set_fact:
    audit_held: "{{ lookup('octorunbook.fleet.audit_copy', '/srv/audit/' ~ inventory_hostname) }}"

- name: Fetch only the files the control node's copy lacks or holds with other content
  ansible.builtin.fetch:
    src: "{{ item.path }}"
    dest: "/srv/audit/{{ inventory_hostname }}/{{ item.path | relpath('/var/lib/app/audit') }}"
    flat: true
  loop: "{{ node_audit.files }}"  # ansible.builtin.find, get_checksum: true
  when: audit_held.get(item.path | relpath('/var/lib/app/audit')) != item.checksum
"""

RETURN = r"""
_raw:
  description:
    - One dictionary per folder given, mapping each regular file's relative POSIX path to the SHA-1 (lowercase
      hex) of its content; empty when the folder does not exist.
  type: list
  elements: dict
"""

import hashlib  # noqa: E402 - Ansible plugins put their documentation first
import os  # noqa: E402
import stat  # noqa: E402
from typing import Any  # noqa: E402

from ansible.errors import AnsibleLookupError  # noqa: E402

from ansible.plugins.lookup import LookupBase  # noqa: E402

CHUNK = 64 * 1024
# Never through a link, and never blocking on a FIFO put where a file was listed: the opened object is
# checked to be a regular file before a byte is read.
OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def sha1_of(path: str) -> str | None:
    """The file's SHA-1, or None when what is at ``path`` is not a regular file (any more)."""
    try:
        fd = os.open(path, OPEN_FLAGS)
    except FileNotFoundError:
        return None  # removed since it was listed
    except OSError as error:
        if os.path.islink(path):  # replaced by a link since it was listed (ELOOP under O_NOFOLLOW)
            return None
        raise AnsibleLookupError(f"cannot read {path}: {error.strerror}") from error
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return None
        digest = hashlib.sha1(usedforsecurity=False)
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checksums(root: str) -> dict[str, str]:
    """{relative POSIX path: SHA-1} of the regular files under ``root``; {} when ``root`` does not exist."""
    found: dict[str, str] = {}
    pending = [("", root)]  # (relative prefix, folder)
    while pending:
        prefix, folder = pending.pop()
        try:
            with os.scandir(folder) as entries:
                listed = list(entries)
        except FileNotFoundError:
            continue  # the root is missing, or a subfolder was removed since it was listed
        except NotADirectoryError as error:
            if not prefix:
                raise AnsibleLookupError(f"{folder} is not a folder") from error
            continue  # a subfolder replaced by a file since it was listed
        except OSError as error:
            raise AnsibleLookupError(f"cannot list {folder}: {error.strerror}") from error
        for entry in listed:
            relative = prefix + entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((relative + "/", entry.path))
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue  # a link, a FIFO, a socket, a device
            except OSError:
                continue  # removed since the folder was listed
            digest = sha1_of(entry.path)
            if digest is not None:
                found[relative] = digest
    return dict(sorted(found.items()))


class LookupModule(LookupBase):  # type: ignore[misc]  # ansible-core ships no type information
    def run(
        self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[dict[str, str]]:
        if kwargs:
            raise AnsibleLookupError(f"audit_copy takes no options, got: {', '.join(sorted(kwargs))}")
        return [checksums(self._loader.path_dwim(term)) for term in terms]
