"""RFC 8555 over certbot's `acme`: orders, challenges (answered through a target part), errors."""
