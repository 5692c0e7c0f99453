"""Embeddings' output options through the real gateway: `encoding_format: base64` is encoded by the
gateway (little-endian float32, as OpenAI sends it; every backend is asked for floats), `dimensions`
is forwarded only to a model whose config says its backends honour it, and refused otherwise."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator

import httpx2 as httpx
import openai
import pytest

from tests.openapi import validate
from tests.support.gateway import RunningGateway, add_key, backend, make_settings, rules
from tests.support.upstream import FakeUpstream

UPSTREAM_VECTOR = [0.1, 0.2, 0.3]  # the fake upstream's vector for input i is these, then float(i)


class Served:
    def __init__(self, gateway: RunningGateway, upstream: FakeUpstream, key: str) -> None:
        self.gateway, self.upstream, self.key = gateway, upstream, key
        self.client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)

    def post(self, body: dict[str, object]) -> httpx.Response:
        return httpx.post(
            self.gateway.url + "/v1/embeddings", json=body, headers={"Authorization": f"Bearer {self.key}"}
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    upstream = FakeUpstream("embeddings").start()
    route = [{"backend": "jp", "model": "e5"}]
    settings = make_settings(
        tmp_path_factory.mktemp("embeddings"),
        {"jp": backend(upstream.base_url)},
        {
            "plain": {"endpoint": "embeddings", "routes": route},
            "any-size": {"endpoint": "embeddings", "routes": route, "dimensions": True},
            "two-sizes": {"endpoint": "embeddings", "routes": route, "dimensions": [256, 512]},
        },
        {"t": rules(["JP"])},
    )
    key = add_key(settings, "t")
    gateway = RunningGateway(settings).start()
    served = Served(gateway, upstream, key)
    try:
        yield served
    finally:
        served.client.close()
        gateway.stop()
        upstream.stop()


@pytest.fixture
def s(served: Served) -> Served:
    served.upstream.received.clear()
    return served


def _float32(values: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def test_the_sdk_default_is_base64_and_it_decodes_to_the_upstream_floats(s: Served) -> None:
    result = s.client.embeddings.create(model="plain", input=["a", "b"])  # the SDK asks for base64
    assert [item.embedding for item in result.data] == [_float32([*UPSTREAM_VECTOR, float(i)]) for i in range(2)]
    assert "encoding_format" not in s.upstream.received[0]  # the gateway encodes; the backend sends floats


def test_raw_base64_is_little_endian_float32(s: Served) -> None:
    answer = s.post({"model": "plain", "input": "a", "encoding_format": "base64"})
    assert answer.status_code == 200, answer.text
    encoded = answer.json()["data"][0]["embedding"]
    assert isinstance(encoded, str)
    raw = base64.b64decode(encoded)
    assert len(raw) == 4 * 4
    assert list(struct.unpack("<4f", raw)) == _float32([*UPSTREAM_VECTOR, 0.0])


def test_float_is_floats_and_matches_the_schema(s: Served) -> None:
    answer = s.post({"model": "plain", "input": "a", "encoding_format": "float"})
    assert answer.json()["data"][0]["embedding"] == [*UPSTREAM_VECTOR, 0.0]
    validate(answer.json(), "CreateEmbeddingResponse")


def test_dimensions_are_refused_where_the_model_does_not_honour_them(s: Served) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        s.client.embeddings.create(model="plain", input="a", dimensions=256)
    error = info.value.body
    assert isinstance(error, dict)
    assert error["param"] == "dimensions" and error["code"] == "unsupported_parameter"
    assert "'dimensions'" in error["message"]
    assert s.upstream.received == []  # refused, not forwarded to be silently ignored


def test_dimensions_are_forwarded_where_the_model_honours_them(s: Served) -> None:
    s.client.embeddings.create(model="any-size", input="a", dimensions=64)
    s.client.embeddings.create(model="two-sizes", input="a", dimensions=512)
    assert [body["dimensions"] for body in s.upstream.received] == [64, 512]


def test_a_size_the_model_does_not_offer_is_refused_naming_the_sizes(s: Served) -> None:
    answer = s.post({"model": "two-sizes", "input": "a", "dimensions": 100})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == "dimensions"
    assert "256, 512" in error["message"]
    validate(json.loads(answer.content), "ErrorResponse")
