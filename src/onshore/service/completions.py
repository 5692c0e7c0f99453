"""Legacy text completions (/v1/completions), for the tools that still use them: identify -> decide ->
protect -> route -> prove, exactly as chat (chat.py), streams included; only what the backend is asked
for differs. Models are the chat models; a backend that has no legacy completions (Anthropic) is
skipped like any that cannot express a request, and with none left the caller gets 400
unsupported_by_backend naming it. The embedded model continues the prompt as it is (no chat template).
"""

from __future__ import annotations

from onshore.route.backends.base import Endpoint
from onshore.service.chat import ChatService


class CompletionsService(ChatService):
    upstream: Endpoint = "completions"
