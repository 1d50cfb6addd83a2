"""octorunbook: guided, auditable HTTPS for the Octopus Deploy web portal."""

__version__ = "0.1.0"
