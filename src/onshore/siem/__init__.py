"""Security events to the SIEM: a bounded, non-blocking emitter and its sinks (NDJSON file or stdout,
syslog RFC 5424 over TLS with RFC 5425 framing, Splunk HEC). Nothing here is on the request path:
`emit` only puts an event on a bounded queue; background tasks do the sending."""
