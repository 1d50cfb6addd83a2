"""Read-only proofs from outside the target: TLS, the expiry check and its renderers, posture."""
