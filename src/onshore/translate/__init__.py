"""Translation between OpenAI's chat format (what Onshore speaks inside) and other wire dialects.

Pure: no I/O, and nothing from edge, route or service. Each dialect is a package with one set of
tables shared by both directions: `inbound` for clients that speak the dialect, `outbound` for
backends that do.
"""
