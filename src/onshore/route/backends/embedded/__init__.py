"""The embedded backend: an open-weight GGUF model run inside the gateway with llama.cpp.

It is served as an OpenAI-compatible HTTP app on a Unix socket in the data directory, so the router
treats it exactly like any other backend (policy, failover, streaming, disconnects) while nothing
outside the gateway process's user can reach it.
"""
