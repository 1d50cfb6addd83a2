"""The `octorunbook` command: the verb table (main.py) and one module per verb."""
