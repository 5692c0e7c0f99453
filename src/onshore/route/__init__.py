"""Route: send a decided request to a compliant backend, failing over only among compliant ones."""
