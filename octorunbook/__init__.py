"""octorunbook: guided, auditable HTTPS for the Octopus Deploy web portal."""

__version__ = "0.1.0"

# The mimetype of the result record every executed runbook ends with (a contract other tools read).
RESULT_MIME = "application/vnd.octorunbook.result+json"
