"""The one set of OpenAI <-> Anthropic tables, read by both directions.

Where a mapping is many-to-one, the pair listed first for a value is the one the other direction
uses, so a round trip through both directions lands on the same value.
"""

from __future__ import annotations

from typing import Any

# (Anthropic stop_reason, OpenAI finish_reason). The first pair for a finish_reason is its inverse.
_STOP_FINISH: tuple[tuple[str, str], ...] = (
    ("end_turn", "stop"),
    ("max_tokens", "length"),
    ("tool_use", "tool_calls"),
    ("refusal", "content_filter"),
    ("stop_sequence", "stop"),
    ("pause_turn", "stop"),
    ("model_context_window_exceeded", "length"),
)
FINISH_REASONS: dict[str, str] = dict(_STOP_FINISH)  # Anthropic stop_reason -> OpenAI finish_reason
STOP_REASONS: dict[str, str] = {finish: stop for stop, finish in reversed(_STOP_FINISH)}
STOP_REASONS["function_call"] = "tool_use"  # OpenAI's legacy name for a tool call
DEFAULT_STOP_REASON = "end_turn"
DEFAULT_FINISH_REASON = "stop"

# OpenAI message role -> where it goes in an Anthropic request ("system" is the top-level field;
# tool answers are tool_result blocks in a user turn). Roles not listed cannot be expressed.
OUTBOUND_ROLES: dict[str, str] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "user",
}
# Anthropic message role -> OpenAI role (Anthropic has only these two; system is a field).
INBOUND_ROLES: dict[str, str] = {"user": "user", "assistant": "assistant"}

# Anthropic tool_choice type -> OpenAI's string form ("tool" is OpenAI's function-choice object).
TOOL_CHOICE_MODES: dict[str, str] = {"auto": "auto", "any": "required", "none": "none"}
OPENAI_TOOL_CHOICE_MODES: dict[str, str] = {openai: anthropic for anthropic, openai in TOOL_CHOICE_MODES.items()}

# HTTP status <-> Anthropic error type (Anthropic's errors page). 500 is the inverse of api_error.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
ERROR_STATUSES: dict[str, int] = {kind: status for status, kind in ERROR_TYPES.items()} | {"api_error": 500}

# Content-block kinds. Reasoning blocks have no OpenAI equivalent: earlier turns' reasoning sent by
# clients is left out, and so is the reasoning in backends' answers.
REASONING_BLOCKS = frozenset({"thinking", "redacted_thinking"})
TEXT_BLOCK = "text"
TOOL_USE_BLOCK = "tool_use"
# OpenAI content part type -> Anthropic block type, for user turns.
USER_PART_BLOCKS: dict[str, str] = {"text": "text", "image_url": "image"}
# OpenAI assistant content parts that carry text (OpenAI's refusal part is text for Anthropic).
ASSISTANT_TEXT_PARTS = frozenset({"text", "refusal"})

# --- inbound: what happens to every documented top-level Anthropic request field ----------------------

# Documented fields that change nothing in the answer: accepted (their shape checked), not forwarded.
INBOUND_ACCEPTED_FIELDS: dict[str, str] = {
    # A prompt-caching hint: Onshore asks no backend to cache (a cache keeps the prompt at the provider);
    # answers are the same, only not cached. Block-level cache_control is accepted the same way.
    "cache_control": "prompt caching",
}
# Documented fields Onshore refuses, each with the rule the client is told (unless the value is one of
# INBOUND_NEUTRAL_VALUES: it asks for what happens anyway).
INBOUND_REFUSED_FIELDS: dict[str, str] = {
    "top_k": "OpenAI-compatible backends have no top_k in the chat format Onshore routes through",
    "thinking": "extended thinking is not translated to the backends Onshore routes to",
    "service_tier": "capacity tiers are not offered by this gateway",
    "container": "code-execution containers keep state at the provider",
    "mcp_servers": "remote MCP servers would be called by the provider, outside the gateway's residency policy",
    "context_management": "context editing happens at the provider and is not translated",
    "output_config": "output configuration (structured output, effort) is not translated",
    "inference_geo": "where a request is processed is decided by the gateway's residency policy, not per request",
    "speed": "fast-mode inference is a provider capacity option not offered by this gateway",
    "diagnostics": "prompt-cache diagnostics need a provider-side cache, and Onshore asks no backend to cache",
    "compaction": "context compaction happens at the provider and is not translated",
}
INBOUND_NEUTRAL_VALUES: dict[str, tuple[Any, ...]] = {
    "thinking": ({"type": "disabled"},),
    "service_tier": ("auto", "standard_only"),
    "speed": ("standard",),
}

# --- outbound: what happens to every top-level OpenAI chat field ----------------------------------

# Fields the outbound side turns into Anthropic fields (or, for model and stream_options, consumes:
# the route names the upstream model, and Anthropic streams always report usage).
TRANSLATED_FIELDS = frozenset(
    {
        "max_completion_tokens",
        "max_tokens",
        "messages",
        "model",
        "parallel_tool_calls",
        "safety_identifier",
        "stop",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_p",
        "user",
    }
)
# Fields Anthropic cannot express, with why: refused (naming the field) rather than dropped, unless
# the value is null or one of NEUTRAL_VALUES (it asks for what Anthropic does anyway).
REFUSED_FIELDS: dict[str, str] = {
    "audio": "Anthropic has no audio output",
    "frequency_penalty": "Anthropic has no frequency penalty",
    "function_call": "legacy function calling is not translated; use tools and tool_choice",
    "functions": "legacy function calling is not translated; use tools and tool_choice",
    "logit_bias": "Anthropic has no logit bias",
    "logprobs": "Anthropic returns no log probabilities",
    "metadata": "Anthropic's metadata carries only a user id (send it as 'user')",
    "modalities": "Anthropic answers in text only",
    "moderation": "Anthropic has no moderation setting",
    "n": "Anthropic returns one choice, so n > 1 cannot be sent",
    "prediction": "Anthropic has no predicted outputs",
    "presence_penalty": "Anthropic has no presence penalty",
    "prompt_cache_key": "Anthropic's prompt caching has no cache key",
    "prompt_cache_options": "Anthropic's prompt caching is not configured this way",
    "prompt_cache_retention": "Anthropic's prompt caching has no retention setting",
    "reasoning_effort": "reasoning effort is not translated to Anthropic's extended thinking",
    "response_format": "Anthropic has no JSON mode or response schema",
    "seed": "Anthropic has no seed",
    "service_tier": "OpenAI's service tiers do not map onto Anthropic's",
    "store": "Anthropic has no stored completions",
    "top_logprobs": "Anthropic returns no log probabilities",
    "verbosity": "Anthropic has no verbosity setting",
    "web_search_options": "Anthropic's web search is a server tool, not translated",
}
# Values equal to leaving the field out, accepted and left out as before.
NEUTRAL_VALUES: dict[str, tuple[Any, ...]] = {
    "frequency_penalty": (0,),
    "logit_bias": ({},),
    "logprobs": (False,),
    "metadata": ({},),
    "modalities": (["text"],),
    "n": (1,),
    "presence_penalty": (0,),
    "response_format": ({"type": "text"},),
    "service_tier": ("auto",),
    "store": (False,),
    "top_logprobs": (0,),
}
# Anthropic temperature is 0..1; OpenAI's is 0..2. Values above 1 are clamped, not rescaled, so the
# common 0..1 settings mean the same on both.
MAX_TEMPERATURE = 1.0
