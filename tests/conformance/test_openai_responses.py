"""OpenAI Responses API `POST {prefix}/responses`, streaming and not."""

from __future__ import annotations

import openai
import pytest
from openai.types.responses import Response

import helpers
from helpers import CHAT_MODEL, PREFIXES, fast, post


def _validate(r) -> Response:
    return Response.model_validate(r.to_dict())


@pytest.mark.parametrize("prefix", PREFIXES)
def test_non_stream(url, prefix):
    c = helpers.openai_client(url, prefix)
    r = c.responses.create(model=CHAT_MODEL, input="Say hello.", extra_headers=fast(5))
    v = _validate(r)
    assert v.object == "response"
    assert v.status == "completed"
    assert v.model == CHAT_MODEL
    assert v.incomplete_details is None
    assert len(v.output) == 1
    item = v.output[0]
    assert item.type == "message" and item.role == "assistant" and item.status == "completed"
    assert item.content[0].type == "output_text"
    assert item.content[0].text
    assert r.output_text == item.content[0].text
    assert v.usage is not None
    assert v.usage.output_tokens == 5
    assert v.usage.input_tokens > 0
    assert v.usage.total_tokens == v.usage.input_tokens + v.usage.output_tokens


def test_non_stream_raw(url):
    r = post(url, "/v1/responses", {"model": CHAT_MODEL, "input": [{"role": "user", "content": "hi"}]}, fast(3))
    assert r.status == 200, r.describe()
    assert r.header("x-request-id")
    d = r.json()
    Response.model_validate(d)
    assert d["object"] == "response"
    assert d["status"] == "completed"
    assert d["usage"]["output_tokens"] == 3
    assert "cache_write_tokens" in d["usage"]["input_tokens_details"]


def test_max_output_tokens_incomplete(oai):
    r = oai.responses.create(model=CHAT_MODEL, input="Say hello.", max_output_tokens=3, extra_headers=fast(10))
    v = _validate(r)
    assert v.status == "incomplete"
    assert v.incomplete_details is not None and v.incomplete_details.reason == "max_output_tokens"
    assert v.usage.output_tokens == 3


def test_under_cap_is_completed(oai):
    r = oai.responses.create(model=CHAT_MODEL, input="Say hello.", max_output_tokens=50, extra_headers=fast(4))
    v = _validate(r)
    assert v.status == "completed"
    assert v.incomplete_details is None
    assert v.usage.output_tokens == 4


@pytest.mark.parametrize("prefix", PREFIXES)
def test_stream_raw(url, prefix):
    r = post(url, f"{prefix}/responses", {"model": CHAT_MODEL, "input": "Say hello.", "stream": True}, fast(6))
    s = helpers.check_responses_stream(r, expect_tokens=6)
    assert s.final["status"] == "completed"
    assert s.final["usage"]["output_tokens"] == 6
    assert s.text


def test_stream_raw_cap_is_incomplete(url):
    r = post(
        url,
        "/v1/responses",
        {"model": CHAT_MODEL, "input": "Say hello.", "stream": True, "max_output_tokens": 2},
        fast(9),
    )
    s = helpers.check_responses_stream(r, expect_tokens=2, terminal="response.incomplete")
    assert s.final["status"] == "incomplete"
    assert s.final["incomplete_details"]["reason"] == "max_output_tokens"


def test_stream_sdk_iteration(oai):
    stream = oai.responses.create(model=CHAT_MODEL, input="Say hello.", stream=True, extra_headers=fast(4))
    events = list(stream)
    types = [e.type for e in events]
    for e in events:
        helpers.validate_responses_event(e.to_dict())
    assert types[0] == "response.created"
    assert types[-1] == "response.completed"
    assert types.count("response.output_text.delta") == 4


def test_stream_helper(oai):
    deltas = []
    with oai.responses.stream(model=CHAT_MODEL, input="Say hello.", extra_headers=fast(5)) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    v = Response.model_validate(final.to_dict())
    assert v.status == "completed"
    assert len(deltas) == 5
    assert final.output_text == "".join(deltas)
    assert v.usage.output_tokens == 5


def test_unknown_model(oai):
    with pytest.raises(openai.NotFoundError) as ei:
        oai.responses.create(model="nope", input="x", extra_headers=fast(2))
    assert ei.value.code == "model_not_found"
