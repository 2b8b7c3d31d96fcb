"""OpenAI `POST {prefix}/chat/completions`, non-streaming and streaming."""

from __future__ import annotations

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import helpers
from helpers import CHAT_MODEL, PREFIXES, chat_body, fast, post

MSGS = [{"role": "user", "content": "Say hello to the mock."}]


def _validate(c) -> ChatCompletion:
    return ChatCompletion.model_validate(c.to_dict())


@pytest.mark.parametrize("prefix", PREFIXES)
def test_non_stream_natural_end(url, prefix):
    client = helpers.openai_client(url, prefix)
    r = client.chat.completions.create(model=CHAT_MODEL, messages=MSGS, extra_headers=fast(5))
    v = _validate(r)
    assert v.object == "chat.completion"
    assert v.id
    assert v.model == CHAT_MODEL
    assert len(v.choices) == 1
    ch = v.choices[0]
    assert ch.index == 0
    assert ch.message.role == "assistant"
    assert isinstance(ch.message.content, str) and ch.message.content, "content must be a non-empty string"
    assert ch.finish_reason == "stop"
    assert v.usage is not None
    assert v.usage.completion_tokens == 5
    assert v.usage.prompt_tokens > 0
    assert v.usage.total_tokens == v.usage.prompt_tokens + v.usage.completion_tokens


def test_non_stream_raw_shape(url):
    r = post(url, "/v1/chat/completions", chat_body(), fast(3))
    assert r.status == 200, r.describe()
    assert (r.header("content-type") or "").startswith("application/json")
    assert r.header("x-request-id"), "OpenAI routes must carry x-request-id"
    d = r.json()
    ChatCompletion.model_validate(d)
    msg = d["choices"][0]["message"]
    assert msg["role"] == "assistant"
    assert isinstance(d["created"], int)
    assert d["choices"][0]["finish_reason"] == "stop"
    assert d["usage"]["completion_tokens"] == 3


def test_max_tokens_caps(oai):
    r = oai.chat.completions.create(model=CHAT_MODEL, messages=MSGS, max_tokens=3, extra_headers=fast(10))
    v = _validate(r)
    assert v.choices[0].finish_reason == "length"
    assert v.usage.completion_tokens == 3


def test_under_cap_is_stop(oai):
    r = oai.chat.completions.create(model=CHAT_MODEL, messages=MSGS, max_tokens=50, extra_headers=fast(4))
    v = _validate(r)
    assert v.choices[0].finish_reason == "stop"
    assert v.usage.completion_tokens == 4


@pytest.mark.parametrize(
    "max_tokens,max_completion_tokens,expected",
    [(10, 4, 4), (2, 6, 6)],
)
def test_max_completion_tokens_wins(oai, max_tokens, max_completion_tokens, expected):
    r = oai.chat.completions.create(
        model=CHAT_MODEL,
        messages=MSGS,
        max_tokens=max_tokens,
        max_completion_tokens=max_completion_tokens,
        extra_headers=fast(20),
    )
    v = _validate(r)
    assert v.usage.completion_tokens == expected
    assert v.choices[0].finish_reason == "length"


def test_ignore_eos_emits_exactly_the_cap(oai):
    r = oai.chat.completions.create(
        model=CHAT_MODEL, messages=MSGS, max_tokens=7, extra_body={"ignore_eos": True}, extra_headers=fast(3)
    )
    v = _validate(r)
    assert v.usage.completion_tokens == 7
    assert v.choices[0].finish_reason == "length"


def test_min_tokens_raises_floor(oai):
    r = oai.chat.completions.create(
        model=CHAT_MODEL, messages=MSGS, extra_body={"min_tokens": 6}, extra_headers=fast(2)
    )
    v = _validate(r)
    assert v.usage.completion_tokens >= 6
    assert v.choices[0].finish_reason == "stop"


def test_min_tokens_below_natural_length_is_noop(oai):
    r = oai.chat.completions.create(
        model=CHAT_MODEL, messages=MSGS, extra_body={"min_tokens": 2}, extra_headers=fast(5)
    )
    assert _validate(r).usage.completion_tokens == 5


def test_n_must_be_one(oai):
    ok = oai.chat.completions.create(model=CHAT_MODEL, messages=MSGS, n=1, extra_headers=fast(2))
    assert len(_validate(ok).choices) == 1
    with pytest.raises(openai.BadRequestError) as ei:
        oai.chat.completions.create(model=CHAT_MODEL, messages=MSGS, n=2, extra_headers=fast(2))
    helpers.assert_openai_error_shape({"error": ei.value.body}, type_="invalid_request_error")


def test_unknown_model_404(oai, url):
    with pytest.raises(openai.NotFoundError) as ei:
        oai.chat.completions.create(model="no-such-model", messages=MSGS, extra_headers=fast(2))
    e = ei.value
    assert e.code == "model_not_found"
    assert e.type == "invalid_request_error"
    raw = post(url, "/v1/chat/completions", chat_body(model="no-such-model"), fast(2))
    assert raw.status == 404
    helpers.assert_openai_error_shape(raw.json(), type_="invalid_request_error", code="model_not_found")


def test_accept_any_model(mock_factory):
    m = mock_factory("--accept-any-model")
    c = helpers.openai_client(m.url)
    r = c.chat.completions.create(model="whatever-model-7b", messages=MSGS, extra_headers=fast(3))
    v = _validate(r)
    assert v.model == "whatever-model-7b", "the requested model name is echoed back"
    assert v.usage.completion_tokens == 3
    assert v.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("model", helpers.DEFAULT_MODELS)
def test_every_default_model_serves_chat(oai, model):
    r = oai.chat.completions.create(model=model, messages=MSGS, extra_headers=fast(2))
    assert _validate(r).usage.completion_tokens == 2


# --------------------------------------------------------------------------- streaming (raw bytes)


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_raw(url, prefix, include_usage):
    body = chat_body(n_stream=True)
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    r = post(url, f"{prefix}/chat/completions", body, fast(6))
    s = helpers.check_openai_text_stream(
        r, kind="chat", include_usage=include_usage, expect_tokens=6, expect_finish="stop"
    )
    assert s.text, "streamed text must not be empty"
    if include_usage:
        assert s.usage["completion_tokens"] == 6


def test_stream_raw_cap_gives_length(url):
    body = chat_body(n_stream=True, max_tokens=3, stream_options={"include_usage": True})
    r = post(url, "/v1/chat/completions", body, fast(10))
    s = helpers.check_openai_text_stream(r, kind="chat", include_usage=True, expect_tokens=3, expect_finish="length")
    assert s.usage["completion_tokens"] == 3


def test_stream_raw_ignore_eos(url):
    body = chat_body(n_stream=True, max_completion_tokens=5, ignore_eos=True, stream_options={"include_usage": True})
    r = post(url, "/v1/chat/completions", body, fast(2))
    helpers.check_openai_text_stream(r, kind="chat", include_usage=True, expect_tokens=5, expect_finish="length")


def test_stream_text_matches_non_stream_length(url):
    """Same body streamed and not: the token counts agree."""
    ns = post(url, "/v1/chat/completions", chat_body(), fast(8)).json()
    r = post(url, "/v1/chat/completions", chat_body(n_stream=True, stream_options={"include_usage": True}), fast(8))
    s = helpers.check_openai_text_stream(r, kind="chat", include_usage=True)
    assert s.usage["completion_tokens"] == ns["usage"]["completion_tokens"] == 8
    assert s.usage["prompt_tokens"] == ns["usage"]["prompt_tokens"]


# --------------------------------------------------------------------------- streaming (SDK)


def test_stream_sdk_iteration(oai):
    stream = oai.chat.completions.create(
        model=CHAT_MODEL,
        messages=MSGS,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=fast(7),
    )
    chunks = list(stream)
    assert chunks
    for c in chunks:
        ChatCompletionChunk.model_validate(c.to_dict())
    content = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content) == 7
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 7


@pytest.mark.parametrize("prefix", ["/v1", "/openai/v1"])
def test_stream_helper_final_completion(url, prefix):
    client = helpers.openai_client(url, prefix)
    deltas = []
    with client.chat.completions.stream(
        model=CHAT_MODEL,
        messages=MSGS,
        stream_options={"include_usage": True},
        extra_headers=fast(5),
    ) as stream:
        for event in stream:
            if event.type == "content.delta" and event.delta:
                deltas.append(event.delta)
        final = stream.get_final_completion()  # must not raise on a natural end
    v = ChatCompletion.model_validate(final.to_dict())
    assert v.choices[0].finish_reason == "stop"
    assert v.choices[0].message.role == "assistant"
    assert v.choices[0].message.content == "".join(deltas)
    assert len(deltas) == 5
    assert v.usage is not None and v.usage.completion_tokens == 5


def test_stream_helper_length_raises_length_error(oai):
    """The SDK helper raises LengthFinishReasonError on finish_reason=length; the mock
    must therefore report `length` when (and only when) the cap was hit."""
    with pytest.raises(openai.LengthFinishReasonError):
        with oai.chat.completions.stream(
            model=CHAT_MODEL, messages=MSGS, max_tokens=2, extra_headers=fast(10)
        ) as stream:
            for _ in stream:
                pass
            stream.get_final_completion()
