"""Reports for compliance officers, built from the audit chain alone: the sovereignty report (what
happened where, for a tenant and a period), its signature, and its renderers (JSON, HTML, PDF)."""
