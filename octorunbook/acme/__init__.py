"""ACME (RFC 8555) over certbot's `acme`: the protocol only; challenges are answered through a target part.

Orders, challenges, DNS, and the protocol's failures as coded errors with remedies.
"""
