"""Observability off the request's critical work: the access log (one line per request, from the
audit trace the service already fills) and OpenTelemetry traces (spans kept as timestamps on the
request path, encoded and sent by a background task). Never content, keys, tokens or personal values."""
