"""The audit directory: executed notebooks as tamper-evident records that never hold a secret.

A change reviewer reads these files months after the run, so three things matter more than speed:

* **Nothing secret reaches disk** (:mod:`.redact`): only a redacted copy is written, and the HTML is
  rendered from that copy.
* **Every run is kept**, failed ones first of all, and a run killed before it could store its record
  (its partial notebook left in ``.in-progress/``) is shown as ``interrupted`` and chained by the next
  run (:mod:`.store`, :mod:`.listing`).
* **Tampering shows** (:mod:`.chain`, :mod:`.signing`): each record's SHA-256 goes into
  ``manifest.jsonl``, one JSON line per record, each line carrying the previous line's hash. With a
  signing key every line is also signed (Ed25519); with a head hash kept outside the folder (a change
  ticket) a verifier proves nothing up to that head was rewritten or removed.

Layout::

    audit_dir/                                               0750 when octorunbook creates it
      20261126T183000Z_03-add-https-binding_localhost.ipynb   the redacted executed notebook (0640/0600)
      20261126T183000Z_03-add-https-binding_localhost.html    nbconvert rendering of the same
      manifest.jsonl                                          the hash chain, also the listing index
      .manifest.lock                                          serialises writers (never part of the chain)
      .in-progress/                                           notebooks of runs not yet stored

Modules: :mod:`.records` (the result record, names), :mod:`.redact`, :mod:`.files` (modes, atomic
writes, the writers' lock), :mod:`.chain` (manifest, verification), :mod:`.signing`, :mod:`.store`,
:mod:`.listing`, :mod:`.show`. None imports nbformat, nbconvert or cryptography at import time, so
``octorunbook audit list`` starts fast.
"""
