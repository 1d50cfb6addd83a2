"""The command line: the verb table (main.py) and one module per verb, named after the verb."""
