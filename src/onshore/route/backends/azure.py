"""Adapter for Azure OpenAI: deployment-based URLs and `api-version`; the wire format is OpenAI's.

The route's upstream model is the deployment name. Authentication is an `api-key` header, or an
Entra ID bearer token supplied per request by route/credentials.py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec

from onshore.route.backends.base import Endpoint, UpstreamRequest
from onshore.route.backends.openai import OpenAIAdapter

_encoder = msgspec.json.Encoder()
_PATHS: dict[Endpoint, str] = {"chat": "chat/completions", "embeddings": "embeddings", "completions": "completions"}


class AzureOpenAIAdapter(OpenAIAdapter):
    __slots__ = ("_api_version", "_base")

    def __init__(self, base_url: str, api_key: str | None, api_version: str) -> None:
        super().__init__(base_url, None)
        self._base = base_url.rstrip("/")
        self._api_version = api_version
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["api-key"] = api_key
        self._headers = headers

    def serves(self, endpoint: Endpoint) -> bool:
        return endpoint in _PATHS

    def build(self, endpoint: Endpoint, body: dict[str, Any], upstream_model: str) -> UpstreamRequest:
        if endpoint not in _PATHS:
            raise ValueError(f"Azure OpenAI has no '{endpoint}' endpoint")
        deployment = quote(upstream_model, safe="")
        url = (
            f"{self._base}/openai/deployments/{deployment}/{_PATHS[endpoint]}"
            f"?api-version={quote(self._api_version, safe='')}"
        )
        # Azure picks the model from the deployment; the body's `model` is not needed.
        forwarded = {key: value for key, value in body.items() if key != "model"}
        return UpstreamRequest(url, self._headers, _encoder.encode(forwarded))
