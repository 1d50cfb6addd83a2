"""One module per runbook over the target protocols, the Run and its typed record, the undo engine."""
