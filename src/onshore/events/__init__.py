"""Security events: what a SIEM should hear about, as plain values (no I/O, importable by every stage).

Events carry types, counts and identifiers (tenant, key id, backend, rule, actor), never prompt text
and never personal-data values. Stages emit them through the `SecurityEvents` port; the `siem`
component drains them off the request path to the configured sinks.
"""
