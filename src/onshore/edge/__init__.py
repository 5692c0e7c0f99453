"""Edge: HTTP only. The route table, wire models, OpenAI-format errors and SSE framing."""
