"""Service: the request path, in order (identify, limits, decide, protect, route, prove), and the
stateful admission step that calls the shared controls. Orchestration only: the rules live in the stages."""
