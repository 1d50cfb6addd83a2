"""Evidence: read-only proofs from outside the target (TLS, the expiry check, posture); nothing here changes it.

TLS handshakes and HTTP requests to the portal (its name as SNI and Host), the expiry check and its
renderers, and the posture scan.
"""
