"""Parameters: one parser for every door, one module per provider's fields; checks shape only, imports no target.

``core`` holds the fields every runbook shares and :class:`~octorunbook.params.core.Parameters`;
``nginx`` and ``acme`` hold their provider's fields and checks. What a target as it stands refuses (a
sandbox made for the other front) is the target's to say: ``octorunbook.targets.require_fit``.
"""
