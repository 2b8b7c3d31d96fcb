"""Anthropic `POST /v1/messages` (+ stream), `count_tokens` and models, on every mount."""

from __future__ import annotations

from datetime import datetime

import anthropic
import pytest
from anthropic.types import Message, MessageTokensCount, ModelInfo

import helpers
from helpers import ANTHROPIC_BASES, ANTHROPIC_RAW_HEADERS, CLAUDE_MODEL, fast, messages_body, post

MSGS = [{"role": "user", "content": "Say hello to the mock."}]


def _validate(m) -> Message:
    return Message.model_validate(m.to_dict())


@pytest.mark.parametrize("base", ANTHROPIC_BASES)
def test_non_stream_end_turn(url, base):
    c = helpers.anthropic_client(url, base)
    m = c.messages.create(model=CLAUDE_MODEL, max_tokens=100, messages=MSGS, extra_headers=fast(5))
    v = _validate(m)
    assert v.type == "message" and v.role == "assistant"
    assert v.id
    assert v.model == CLAUDE_MODEL
    assert len(v.content) == 1 and v.content[0].type == "text" and v.content[0].text
    assert v.stop_reason == "end_turn"
    assert v.stop_sequence is None
    assert v.usage.output_tokens == 5
    assert v.usage.input_tokens > 0
    assert m._request_id, "Anthropic routes must carry a request-id header"


def test_non_stream_raw(url):
    r = post(url, "/v1/messages", messages_body(), {**ANTHROPIC_RAW_HEADERS, **fast(3)})
    assert r.status == 200, r.describe()
    assert (r.header("content-type") or "").startswith("application/json")
    assert r.header("request-id"), "Anthropic routes must carry request-id"
    d = r.json()
    Message.model_validate(d)
    assert "stop_reason" in d and "stop_sequence" in d, "real API always includes both keys"
    assert d["stop_reason"] == "end_turn"
    assert d["usage"]["output_tokens"] == 3


def test_max_tokens_cap(anth):
    m = anth.messages.create(model=CLAUDE_MODEL, max_tokens=3, messages=MSGS, extra_headers=fast(10))
    v = _validate(m)
    assert v.stop_reason == "max_tokens"
    assert v.usage.output_tokens == 3


def test_missing_max_tokens_is_400(url):
    body = messages_body()
    del body["max_tokens"]
    r = post(url, "/v1/messages", body, {**ANTHROPIC_RAW_HEADERS, **fast(3)})
    assert r.status == 400, r.describe()
    helpers.assert_anthropic_error_shape(r.json(), type_="invalid_request_error")


def test_missing_max_tokens_sdk_raises_bad_request(anth):
    with pytest.raises(anthropic.BadRequestError) as ei:
        # the low-level post() bypasses the SDK's own required-argument check
        anth.post(
            "/v1/messages",
            body={"model": CLAUDE_MODEL, "messages": MSGS},
            cast_to=Message,
            options={"headers": fast(2)},
        )
    assert ei.value.body["error"]["type"] == "invalid_request_error"


def test_unknown_model_404(anth, url):
    with pytest.raises(anthropic.NotFoundError) as ei:
        anth.messages.create(model="no-such-claude", max_tokens=10, messages=MSGS, extra_headers=fast(2))
    helpers.assert_anthropic_error_shape(ei.value.body, type_="not_found_error")
    r = post(url, "/v1/messages", messages_body(model="no-such-claude"), ANTHROPIC_RAW_HEADERS)
    assert r.status == 404
    body = r.json()
    helpers.assert_anthropic_error_shape(body, type_="not_found_error")
    assert isinstance(body.get("request_id"), str) and body["request_id"], f"request_id missing: {body!r}"


@pytest.mark.parametrize("model", helpers.DEFAULT_MODELS)
def test_every_default_model_serves_messages(anth, model):
    m = anth.messages.create(model=model, max_tokens=50, messages=MSGS, extra_headers=fast(2))
    assert _validate(m).usage.output_tokens == 2


# --------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("prefix", ["/v1", "/anthropic/v1", "/openai/v1"])
def test_stream_raw(url, prefix):
    r = post(url, f"{prefix}/messages", messages_body(stream=True), {**ANTHROPIC_RAW_HEADERS, **fast(6)})
    assert r.header("request-id")
    s = helpers.check_anthropic_stream(r, expect_tokens=6, expect_stop="end_turn")
    assert s.text


def test_stream_raw_cap(url):
    r = post(url, "/v1/messages", messages_body(stream=True, max_tokens=4), {**ANTHROPIC_RAW_HEADERS, **fast(20)})
    s = helpers.check_anthropic_stream(r, expect_tokens=4, expect_stop="max_tokens")
    assert s.output_tokens == 4


def test_stream_input_tokens_match_non_stream(url):
    h = {**ANTHROPIC_RAW_HEADERS, **fast(3)}
    ns = post(url, "/v1/messages", messages_body(), h).json()
    s = helpers.check_anthropic_stream(post(url, "/v1/messages", messages_body(stream=True), h))
    assert s.input_tokens == ns["usage"]["input_tokens"]
    assert s.output_tokens == ns["usage"]["output_tokens"] == 3


def test_stream_sdk_raw_events(anth):
    stream = anth.messages.create(model=CLAUDE_MODEL, max_tokens=100, messages=MSGS, stream=True, extra_headers=fast(4))
    events = list(stream)
    for e in events:
        helpers.validate_anthropic_event(e.to_dict())
    types = [e.type for e in events]
    assert types[0] == "message_start"
    assert types[-1] == "message_stop"
    assert types.count("content_block_delta") == 4
    md = [e for e in events if e.type == "message_delta"]
    assert len(md) == 1 and md[0].usage.output_tokens == 4 and md[0].delta.stop_reason == "end_turn"


@pytest.mark.parametrize("base", ANTHROPIC_BASES)
def test_stream_helper_final_message(url, base):
    c = helpers.anthropic_client(url, base)
    with c.messages.stream(model=CLAUDE_MODEL, max_tokens=100, messages=MSGS, extra_headers=fast(5)) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    v = _validate(final)
    assert len(texts) == 5
    assert v.content[0].text == "".join(texts)
    assert v.stop_reason == "end_turn"
    assert v.usage.output_tokens == 5
    assert v.usage.input_tokens > 0


def test_stream_helper_cap(anth):
    with anth.messages.stream(model=CLAUDE_MODEL, max_tokens=2, messages=MSGS, extra_headers=fast(9)) as stream:
        final = stream.get_final_message()
    v = _validate(final)
    assert v.stop_reason == "max_tokens"
    assert v.usage.output_tokens == 2


# --------------------------------------------------------------------------- count_tokens


@pytest.mark.parametrize(
    "kwargs",
    [
        {"messages": MSGS},
        {
            "system": "You are a terse assistant who answers in one word.",
            "messages": [
                {"role": "user", "content": "What colour is the sky on a clear day?"},
                {"role": "assistant", "content": "Blue."},
                {"role": "user", "content": [{"type": "text", "text": "And at night, usually?"}]},
            ],
        },
    ],
    ids=["simple", "system+multi"],
)
def test_count_tokens_matches_usage(anth, kwargs):
    ct = anth.messages.count_tokens(model=CLAUDE_MODEL, **kwargs)
    v = MessageTokensCount.model_validate(ct.to_dict())
    assert v.input_tokens > 0
    m = anth.messages.create(model=CLAUDE_MODEL, max_tokens=50, extra_headers=fast(2), **kwargs)
    assert _validate(m).usage.input_tokens == v.input_tokens, (
        f"count_tokens {v.input_tokens} != messages usage.input_tokens {m.usage.input_tokens}"
    )


def test_count_tokens_grows_with_input(anth):
    small = anth.messages.count_tokens(model=CLAUDE_MODEL, messages=[{"role": "user", "content": "hi there"}])
    big = anth.messages.count_tokens(model=CLAUDE_MODEL, messages=[{"role": "user", "content": "word " * 800}])
    assert big.input_tokens > small.input_tokens * 10


def test_count_tokens_unknown_model_404(anth):
    with pytest.raises(anthropic.NotFoundError) as ei:
        anth.messages.count_tokens(model="no-such-claude", messages=MSGS)
    helpers.assert_anthropic_error_shape(ei.value.body, type_="not_found_error")


def test_accept_any_model(mock_factory):
    m = mock_factory("--accept-any-model")
    c = helpers.anthropic_client(m.url)
    msg = c.messages.create(model="claude-anything", max_tokens=20, messages=MSGS, extra_headers=fast(3))
    v = _validate(msg)
    assert v.model == "claude-anything", "the requested model name is echoed back"
    assert v.usage.output_tokens == 3


def test_count_tokens_raw(url):
    body = {"model": CLAUDE_MODEL, "messages": MSGS}
    r = post(url, "/v1/messages/count_tokens", body, ANTHROPIC_RAW_HEADERS)
    assert r.status == 200, r.describe()
    d = r.json()
    MessageTokensCount.model_validate(d)
    assert isinstance(d["input_tokens"], int)


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize("base", ANTHROPIC_BASES)
def test_models_list(url, base):
    c = helpers.anthropic_client(url, base)
    page = c.models.list()
    ids = []
    for mi in page.data:
        ModelInfo.model_validate(mi.to_dict())
        ids.append(mi.id)
    for m in helpers.DEFAULT_MODELS:
        assert m in ids, f"{m} missing from Anthropic models list {ids}"


def test_models_list_raw_anthropic_shape(url):
    r = helpers.get(url, "/v1/models", {"anthropic-version": "2023-06-01"})
    assert r.status == 200, r.describe()
    d = r.json()
    assert "object" not in d or d.get("object") != "list", "anthropic-version header must select the Anthropic shape"
    assert d["has_more"] is False
    assert d["data"], "empty model list"
    assert d["first_id"] == d["data"][0]["id"]
    assert d["last_id"] == d["data"][-1]["id"]
    for item in d["data"]:
        ModelInfo.model_validate(item)
        assert item["type"] == "model"
        assert item["lifecycle"] == "active"
        datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))  # RFC 3339


def test_models_retrieve_unknown_404(anth):
    with pytest.raises(anthropic.NotFoundError) as ei:
        anth.models.retrieve("no-such-claude")
    helpers.assert_anthropic_error_shape(ei.value.body, type_="not_found_error")


def test_models_retrieve(anth):
    mi = anth.models.retrieve(CLAUDE_MODEL)
    v = ModelInfo.model_validate(mi.to_dict())
    assert v.id == CLAUDE_MODEL and v.type == "model"
