"""OpenAI `POST {prefix}/embeddings`: float and base64 encodings, dimensions, list input."""

from __future__ import annotations

import base64
import math
import struct

import openai
import pytest
from openai.types import CreateEmbeddingResponse

import helpers
from helpers import EMBED_MODEL, PREFIXES, post


def _validate(r) -> CreateEmbeddingResponse:
    return CreateEmbeddingResponse.model_validate(r.to_dict())


@pytest.mark.parametrize("prefix", PREFIXES)
def test_sdk_default_base64_decodes_to_default_dims(url, prefix):
    """The SDK asks for base64 by default and decodes little-endian f32."""
    c = helpers.openai_client(url, prefix)
    r = c.embeddings.create(model=EMBED_MODEL, input="hello world")
    v = _validate(r)
    assert v.object == "list"
    assert v.model == EMBED_MODEL
    assert len(v.data) == 1
    e = v.data[0]
    assert e.object == "embedding" and e.index == 0
    assert isinstance(e.embedding, list) and len(e.embedding) == 1536
    assert all(isinstance(x, float) and math.isfinite(x) for x in e.embedding)
    assert v.usage.prompt_tokens > 0
    assert v.usage.total_tokens == v.usage.prompt_tokens


def test_float_encoding(oai):
    r = oai.embeddings.create(model=EMBED_MODEL, input="hello world", encoding_format="float", dimensions=32)
    v = _validate(r)
    assert len(v.data[0].embedding) == 32
    assert all(math.isfinite(x) for x in v.data[0].embedding)


@pytest.mark.parametrize("dims", [8, 256, 3072])
def test_dimensions(oai, dims):
    r = oai.embeddings.create(model=EMBED_MODEL, input="abc", dimensions=dims)
    assert len(_validate(r).data[0].embedding) == dims


def test_list_input_one_item_per_input(oai):
    inputs = ["one", "two two", "three three three"]
    r = oai.embeddings.create(model=EMBED_MODEL, input=inputs, dimensions=16, encoding_format="float")
    v = _validate(r)
    assert [d.index for d in v.data] == [0, 1, 2]
    assert all(len(d.embedding) == 16 for d in v.data)
    assert all(d.object == "embedding" for d in v.data)


def test_raw_float_is_json_numbers(url):
    r = post(url, "/v1/embeddings", {"model": EMBED_MODEL, "input": "x", "encoding_format": "float", "dimensions": 12})
    assert r.status == 200, r.describe()
    assert r.header("x-request-id")
    d = r.json()
    CreateEmbeddingResponse.model_validate(d)
    emb = d["data"][0]["embedding"]
    assert isinstance(emb, list) and len(emb) == 12
    assert all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in emb)


def test_raw_base64_is_le_f32(url):
    r = post(url, "/v1/embeddings", {"model": EMBED_MODEL, "input": ["a", "b"], "encoding_format": "base64", "dimensions": 24})
    assert r.status == 200, r.describe()
    d = r.json()
    assert [x["index"] for x in d["data"]] == [0, 1]
    for item in d["data"]:
        s = item["embedding"]
        assert isinstance(s, str), f"base64 encoding must give a string, got {type(s).__name__}"
        raw = base64.b64decode(s, validate=True)
        assert len(raw) == 24 * 4, f"{len(raw)} bytes, expected 24 little-endian f32"
        vals = struct.unpack("<24f", raw)
        assert all(math.isfinite(x) for x in vals)


def test_base64_and_float_agree_when_deterministic(url):
    body = {"model": EMBED_MODEL, "input": "same text", "dimensions": 16}
    f1 = post(url, "/v1/embeddings", {**body, "encoding_format": "float"}).json()["data"][0]["embedding"]
    f2 = post(url, "/v1/embeddings", {**body, "encoding_format": "float"}).json()["data"][0]["embedding"]
    if f1 != f2:
        pytest.skip("embeddings are not deterministic per input; cannot compare encodings")
    b = post(url, "/v1/embeddings", {**body, "encoding_format": "base64"}).json()["data"][0]["embedding"]
    vals = struct.unpack("<16f", base64.b64decode(b))
    for x, y in zip(f1, vals):
        assert math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-7), f"float {x} vs base64 LE f32 {y}"


def test_unknown_model(oai):
    with pytest.raises(openai.NotFoundError) as ei:
        oai.embeddings.create(model="nope", input="x")
    assert ei.value.code == "model_not_found"
