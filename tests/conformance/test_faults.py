"""Fault injection through the `x-mock-fault` request header."""

from __future__ import annotations

import email.utils

import anthropic
import openai
import pytest

import helpers
from helpers import ANTHROPIC_RAW_HEADERS, CHAT_MODEL, CLAUDE_MODEL, EMBED_MODEL, chat_body, fault, messages_body, post

MSGS = [{"role": "user", "content": "Say hello to the mock."}]

OPENAI_STATUS = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    404: openai.NotFoundError,
    429: openai.RateLimitError,
    500: openai.InternalServerError,
    503: openai.InternalServerError,
}

ANTHROPIC_STATUS = {
    400: (anthropic.BadRequestError, "invalid_request_error"),
    401: (anthropic.AuthenticationError, "authentication_error"),
    404: (anthropic.NotFoundError, "not_found_error"),
    413: (anthropic.ContentTooLargeError, "request_too_large"),
    429: (anthropic.RateLimitError, "rate_limit_error"),
    500: (anthropic.InternalServerError, "api_error"),
    529: (anthropic.OverloadedError, "overloaded_error"),
}

RETRY_AFTER_CODES = {429, 503, 529}


def _assert_retry_after(value: str | None) -> None:
    assert value, "retry-after header missing"
    v = value.strip()
    if v.isdigit():
        return
    try:
        float(v)
        return
    except ValueError:
        pass
    assert email.utils.parsedate_to_datetime(v) is not None, f"retry-after is neither seconds nor an HTTP date: {value!r}"


# --------------------------------------------------------------------------- status faults


@pytest.mark.parametrize("code", sorted(OPENAI_STATUS))
def test_openai_status_fault(oai, url, code):
    cls = OPENAI_STATUS[code]
    with pytest.raises(openai.APIStatusError) as ei:
        oai.chat.completions.create(model=CHAT_MODEL, messages=MSGS, extra_headers=fault(f"status={code}", 3))
    e = ei.value
    assert type(e) is cls, f"status {code} raised {type(e).__name__}, expected {cls.__name__}"
    assert e.status_code == code
    helpers.assert_openai_error_shape({"error": e.body})
    assert e.response.headers.get("x-request-id"), "error responses on OpenAI routes carry x-request-id too"
    if code in RETRY_AFTER_CODES:
        _assert_retry_after(e.response.headers.get("retry-after"))
    # raw bytes: the exact provider shape
    r = post(url, "/v1/chat/completions", chat_body(), fault(f"status={code}", 3))
    assert r.status == code
    assert (r.header("content-type") or "").startswith("application/json")
    helpers.assert_openai_error_shape(r.json())


@pytest.mark.parametrize("code", sorted(ANTHROPIC_STATUS))
def test_anthropic_status_fault(anth, url, code):
    cls, etype = ANTHROPIC_STATUS[code]
    with pytest.raises(anthropic.APIStatusError) as ei:
        anth.messages.create(model=CLAUDE_MODEL, max_tokens=50, messages=MSGS, extra_headers=fault(f"status={code}", 3))
    e = ei.value
    assert type(e) is cls, f"status {code} raised {type(e).__name__}, expected {cls.__name__}"
    assert e.status_code == code
    helpers.assert_anthropic_error_shape(e.body, type_=etype)
    assert e.response.headers.get("request-id"), "error responses on Anthropic routes carry request-id"
    if code in RETRY_AFTER_CODES:
        _assert_retry_after(e.response.headers.get("retry-after"))
    r = post(url, "/v1/messages", messages_body(), {**ANTHROPIC_RAW_HEADERS, **fault(f"status={code}", 3)})
    assert r.status == code
    body = r.json()
    helpers.assert_anthropic_error_shape(body, type_=etype)
    assert isinstance(body.get("request_id"), str) and body["request_id"]


@pytest.mark.parametrize("endpoint", ["chat", "completions", "embeddings", "responses"])
def test_openai_429_on_every_endpoint(oai, endpoint):
    h = fault("status=429", 3)
    with pytest.raises(openai.RateLimitError) as ei:
        if endpoint == "chat":
            oai.chat.completions.create(model=CHAT_MODEL, messages=MSGS, extra_headers=h)
        elif endpoint == "completions":
            oai.completions.create(model=CHAT_MODEL, prompt="x", max_tokens=5, extra_headers=h)
        elif endpoint == "embeddings":
            oai.embeddings.create(model=EMBED_MODEL, input="x", extra_headers=h)
        else:
            oai.responses.create(model=CHAT_MODEL, input="x", extra_headers=h)
    assert ei.value.status_code == 429
    _assert_retry_after(ei.value.response.headers.get("retry-after"))


def test_status_fault_on_stream_requests(oai, anth):
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model=CHAT_MODEL, messages=MSGS, stream=True, extra_headers=fault("status=429", 3))
    with pytest.raises(anthropic.OverloadedError):
        with anth.messages.stream(model=CLAUDE_MODEL, max_tokens=50, messages=MSGS, extra_headers=fault("status=529", 3)) as s:
            s.get_final_message()


def test_count_tokens_status_fault(anth):
    with pytest.raises(anthropic.RateLimitError):
        anth.messages.count_tokens(model=CLAUDE_MODEL, messages=MSGS, extra_headers=fault("status=429"))


def test_fault_does_not_stick(oai):
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model=CHAT_MODEL, messages=MSGS, extra_headers=fault("status=500", 2))
    ok = oai.chat.completions.create(model=CHAT_MODEL, messages=MSGS, extra_headers=helpers.fast(2))
    assert ok.usage.completion_tokens == 2


# --------------------------------------------------------------------------- in-stream error


def test_openai_sse_error_sdk(oai):
    stream = oai.chat.completions.create(
        model=CHAT_MODEL, messages=MSGS, stream=True, extra_headers=fault("sse-error-after=3", 10)
    )
    got = []
    with pytest.raises(openai.APIError) as ei:
        for c in stream:
            if c.choices and c.choices[0].delta.content:
                got.append(c.choices[0].delta.content)
    assert not isinstance(ei.value, openai.APIConnectionError), f"expected an in-stream error frame, got {ei.value!r}"
    assert len(got) == 3


@pytest.mark.parametrize("path,kind", [("/v1/chat/completions", "chat"), ("/v1/completions", "completion")])
def test_openai_sse_error_raw(url, path, kind):
    body = chat_body(n_stream=True) if kind == "chat" else {"model": CHAT_MODEL, "prompt": "x", "max_tokens": 64, "stream": True}
    r = post(url, path, body, fault("sse-error-after=2", 10))
    assert r.status == 200, r.describe()
    helpers.assert_sse_headers(r)
    assert r.complete, f"an in-stream error still ends the body cleanly: {r.error!r}"
    events, _ = r.sse()
    datas = [e.data for e in events]
    err_idx = [i for i, e in enumerate(events) if e.data and e.data.startswith("{") and "error" in e.json()]
    assert len(err_idx) == 1, f"expected exactly one error frame: {datas}"
    for e in events:
        assert e.event is None, f"OpenAI streams carry no event: lines: {e.raw!r}"
    err = events[err_idx[0]].json()
    helpers.assert_openai_error_shape(err)
    content = 0
    for e in events[: err_idx[0]]:
        c = e.json()
        ch = c["choices"][0] if c.get("choices") else {}
        piece = (ch.get("delta") or {}).get("content") if kind == "chat" else ch.get("text")
        if piece:
            content += 1
    assert content == 2, f"{content} content events before the error, expected 2"
    for e in events[err_idx[0] + 1 :]:
        assert e.data == "[DONE]", f"only [DONE] may follow the error frame, got {e.raw!r}"


def test_anthropic_sse_error_sdk(anth):
    stream = anth.messages.create(
        model=CLAUDE_MODEL, max_tokens=100, messages=MSGS, stream=True, extra_headers=fault("sse-error-after=3", 10)
    )
    deltas = 0
    with pytest.raises(anthropic.APIStatusError) as ei:
        for ev in stream:
            if ev.type == "content_block_delta":
                deltas += 1
    assert deltas == 3
    assert ei.value.body["error"]["type"] == "overloaded_error"


def test_anthropic_sse_error_helper(anth):
    with pytest.raises(anthropic.APIStatusError):
        with anth.messages.stream(model=CLAUDE_MODEL, max_tokens=100, messages=MSGS, extra_headers=fault("sse-error-after=1", 5)) as s:
            s.get_final_message()


def test_anthropic_sse_error_raw(url):
    r = post(url, "/v1/messages", messages_body(stream=True), {**ANTHROPIC_RAW_HEADERS, **fault("sse-error-after=2", 10)})
    assert r.status == 200, r.describe()
    helpers.assert_sse_headers(r)
    events, _ = r.sse()
    names = [e.event for e in events]
    assert "error" in names, f"no `event: error` in {names}"
    i = names.index("error")
    d = events[i].json()
    assert d["type"] == "error"
    assert d["error"]["type"] == "overloaded_error"
    assert isinstance(d["error"]["message"], str)
    assert names[:i].count("content_block_delta") == 2
    assert names[0] == "message_start"
    assert "message_stop" not in names[i:], "no message_stop after an error"
    for e in events:
        assert e.event is not None and e.json()["type"] == e.event


# --------------------------------------------------------------------------- dropped connection


def test_openai_drop_sdk(oai):
    stream = oai.chat.completions.create(
        model=CHAT_MODEL, messages=MSGS, stream=True, extra_headers=fault("drop-after-events=3", 10)
    )
    got = 0
    with pytest.raises(openai.APIConnectionError):
        for c in stream:
            if c.choices and c.choices[0].delta.content:
                got += 1
    assert got == 3


def test_openai_drop_raw(url):
    r = post(url, "/v1/chat/completions", chat_body(n_stream=True), fault("drop-after-events=4", 10))
    assert r.status == 200
    assert not r.complete, "the body must be cut without the chunked terminator"
    events, _ = r.sse()
    assert all(e.data != "[DONE]" for e in events)
    content = sum(1 for e in events if e.data.startswith("{") and (e.json()["choices"][0]["delta"].get("content")))
    assert content == 4


def test_anthropic_drop_sdk(anth):
    stream = anth.messages.create(
        model=CLAUDE_MODEL, max_tokens=100, messages=MSGS, stream=True, extra_headers=fault("drop-after-events=3", 10)
    )
    deltas = 0
    with pytest.raises(Exception) as ei:
        for ev in stream:
            if ev.type == "content_block_delta":
                deltas += 1
    assert not isinstance(ei.value, AssertionError)
    assert deltas < 10
    assert deltas == 3


def test_anthropic_drop_raw(url):
    r = post(url, "/v1/messages", messages_body(stream=True), {**ANTHROPIC_RAW_HEADERS, **fault("drop-after-events=2", 10)})
    assert r.status == 200
    assert not r.complete, "the body must be cut without the chunked terminator"
    events, _ = r.sse()
    names = [e.event for e in events]
    assert "message_stop" not in names
    assert names.count("content_block_delta") == 2


def test_drop_does_not_kill_the_server(oai):
    for _ in range(3):
        with pytest.raises(openai.APIConnectionError):
            for _c in oai.chat.completions.create(
                model=CHAT_MODEL, messages=MSGS, stream=True, extra_headers=fault("drop-after-events=1", 5)
            ):
                pass
    ok = oai.chat.completions.create(model=CHAT_MODEL, messages=MSGS, extra_headers=helpers.fast(2))
    assert ok.usage.completion_tokens == 2


# --------------------------------------------------------------------------- timing faults

TOL = 0.03  # client-side read jitter allowance (s); lower bounds only


def _content_times_openai(r):
    events, _ = r.sse()
    out = []
    for e in events:
        if e.data and e.data.startswith("{"):
            c = e.json()
            if c.get("choices") and c["choices"][0]["delta"].get("content"):
                out.append(e.t)
    return out


def _gap_checks(times, after, stall_s):
    assert len(times) > after, f"only {len(times)} content events"
    gaps = [b - a for a, b in zip(times, times[1:])]
    g = gaps[after - 1]  # between content event #after and #after+1
    assert g >= stall_s - TOL, f"gap after content event {after} is {g * 1000:.1f} ms, expected >= {stall_s * 1000:.0f} ms"
    assert g < stall_s + 10.0, f"gap {g:.2f}s absurdly long"
    assert gaps.index(max(gaps)) == after - 1, f"the stall is at the wrong place: gaps(ms)={[round(x * 1000) for x in gaps]}"


@pytest.mark.parametrize("spec,after", [("stall-ms=500", 1), ("stall-ms=500,stall-after=3", 3)])
def test_openai_stall(url, spec, after):
    r = post(url, "/v1/chat/completions", chat_body(n_stream=True), fault(spec, 6))
    helpers.check_openai_text_stream(r, kind="chat", include_usage=False, expect_tokens=6, expect_finish="stop")
    assert r.chunks[-1][0] - r.t_start >= 0.5, "the whole stream must take at least the stall"
    _gap_checks(_content_times_openai(r), after, 0.5)


def test_anthropic_stall(url):
    r = post(url, "/v1/messages", messages_body(stream=True), {**ANTHROPIC_RAW_HEADERS, **fault("stall-ms=500,stall-after=2", 5)})
    helpers.check_anthropic_stream(r, expect_tokens=5, expect_stop="end_turn")
    events, _ = r.sse()
    times = [e.t for e in events if e.event == "content_block_delta"]
    assert r.chunks[-1][0] - r.t_start >= 0.5
    _gap_checks(times, 2, 0.5)


@pytest.mark.parametrize("stream", [False, True])
def test_openai_first_byte_delay(url, stream):
    r = post(url, "/v1/chat/completions", chat_body(n_stream=stream), fault("first-byte-ms=400", 2))
    assert r.status == 200, r.describe()
    waited = r.t_headers - r.t_start
    assert waited >= 0.4 - 0.005, f"headers after {waited * 1000:.1f} ms, expected >= 400 ms"
    assert waited < 10.0


def test_anthropic_first_byte_delay(url):
    r = post(url, "/v1/messages", messages_body(stream=True), {**ANTHROPIC_RAW_HEADERS, **fault("first-byte-ms=400", 2)})
    assert r.status == 200, r.describe()
    waited = r.t_headers - r.t_start
    assert waited >= 0.4 - 0.005, f"headers after {waited * 1000:.1f} ms, expected >= 400 ms"
    helpers.check_anthropic_stream(r, expect_tokens=2)


def test_first_byte_delay_via_sdk(oai):
    import time

    t0 = time.monotonic()
    r = oai.chat.completions.create(model=CHAT_MODEL, messages=MSGS, extra_headers=fault("first-byte-ms=300", 2))
    assert time.monotonic() - t0 >= 0.3 - 0.005
    assert r.usage.completion_tokens == 2
