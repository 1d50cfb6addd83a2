"""The audit directory: executed notebooks as tamper-evident records that never hold a secret.

A change reviewer reads these files months after the run, so three things matter more than speed:

* **Nothing secret reaches disk** (:mod:`.redact`): only a redacted copy is written, and the HTML is
  rendered from that copy.
* **Every run is kept**, failed ones first of all, and a run killed before it could store its record
  (its partial notebook left in ``.in-progress/``) is shown as ``interrupted`` and chained by the next
  run (:mod:`.store`, :mod:`.settle`, :mod:`.listing`).
* **Only what a run wrote is signed**: every save of a running notebook carries a claim, MAC'd with a
  key in the operator's protected home (:mod:`.claims`); the next run chains a killed run's notebook
  only if its claim holds (:mod:`.interrupted`), and moves anything else in ``.in-progress/`` to
  ``quarantine/`` with the reason, ``STATE_UNTRUSTED`` (:mod:`.quarantine`). Files there are found and
  moved through folder handles, never by following a link (:mod:`.folder`).
* **Tampering shows** (:mod:`.chain`, :mod:`.signing`): each record's SHA-256 goes into
  ``manifest.jsonl``, one JSON line per record, each line carrying the previous line's hash. With a
  signing key every line is also signed (Ed25519); with a head hash kept outside the folder (a change
  ticket) a verifier proves nothing up to that head was rewritten or removed.

Layout::

    audit_dir/                                               0750 (0700: .files) when created
      20261126T183000Z_03-add-https-binding_localhost.ipynb   the redacted executed notebook (0640/0600)
      20261126T183000Z_03-add-https-binding_localhost.html    nbconvert rendering of the same
      manifest.jsonl                                          the hash chain, also the listing index
      .manifest.lock                                          serialises writers (never part of the chain)
      .in-progress/                                           0750: notebooks of runs not yet stored
        03-add-https-binding-4711.ipynb                       the running notebook (0640/0600, first byte on)
        03-add-https-binding-4711.ipynb.claim                 its claim: hash of the last save, MAC'd
      quarantine/                                             what was found and not trusted, never chained
        <stamp>-<name>, <stamp>.why                           the file as found, and why (STATE_UNTRUSTED)

Modules: :mod:`.records` (the result record, names), :mod:`.redact`, :mod:`.files` (modes, atomic
writes, the writers' lock), :mod:`.folder` (handles), :mod:`.chain` (manifest, verification),
:mod:`.signing`, :mod:`.claims`, :mod:`.interrupted`, :mod:`.quarantine`, :mod:`.settle`,
:mod:`.store`, :mod:`.listing`, :mod:`.show`. None imports nbformat, nbconvert or cryptography at import time, so
``octorunbook audit list`` starts fast.
"""
