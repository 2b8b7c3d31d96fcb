"""API keys, request ids, and bad input (the mock must answer and keep serving)."""

from __future__ import annotations

import anthropic
import openai
import pytest
from openai.types.chat import ChatCompletion

import helpers
from helpers import (
    ANTHROPIC_RAW_HEADERS,
    CHAT_MODEL,
    CLAUDE_MODEL,
    chat_body,
    fast,
    messages_body,
    post,
)

MSGS = [{"role": "user", "content": "hi"}]
ANTH_NOAUTH = {"anthropic-version": "2023-06-01"}


# --------------------------------------------------------------------------- auth


@pytest.fixture
def keyed(mock_factory):
    return mock_factory("--api-key", "sk-secret")


def test_openai_right_key(keyed):
    c = helpers.openai_client(keyed.url, api_key="sk-secret")
    r = c.chat.completions.create(model=CHAT_MODEL, messages=MSGS, extra_headers=fast(2))
    assert ChatCompletion.model_validate(r.to_dict()).usage.completion_tokens == 2


def test_openai_wrong_key(keyed):
    c = helpers.openai_client(keyed.url, api_key="sk-wrong")
    with pytest.raises(openai.AuthenticationError) as ei:
        c.chat.completions.create(model=CHAT_MODEL, messages=MSGS, extra_headers=fast(2))
    assert ei.value.status_code == 401
    assert ei.value.code == "invalid_api_key"
    helpers.assert_openai_error_shape({"error": ei.value.body}, code="invalid_api_key")


@pytest.mark.parametrize("base", ["", "/anthropic"])
def test_anthropic_right_key(keyed, base):
    c = helpers.anthropic_client(keyed.url, base, api_key="sk-secret")
    m = c.messages.create(model=CLAUDE_MODEL, max_tokens=20, messages=MSGS, extra_headers=fast(2))
    assert m.usage.output_tokens == 2


def test_anthropic_wrong_key(keyed):
    c = helpers.anthropic_client(keyed.url, api_key="sk-wrong")
    with pytest.raises(anthropic.AuthenticationError) as ei:
        c.messages.create(model=CLAUDE_MODEL, max_tokens=20, messages=MSGS, extra_headers=fast(2))
    helpers.assert_anthropic_error_shape(ei.value.body, type_="authentication_error")


@pytest.mark.parametrize(
    "headers,ok",
    [
        ({"authorization": "Bearer sk-secret"}, True),
        ({"x-api-key": "sk-secret"}, True),
        ({}, False),
        ({"authorization": "Bearer sk-nope"}, False),
        ({"x-api-key": "sk-nope"}, False),
        ({"authorization": "sk-secret"}, False),
    ],
    ids=["bearer", "x-api-key", "none", "bearer-wrong", "x-api-key-wrong", "no-bearer-prefix"],
)
def test_raw_auth_headers(keyed, headers, ok):
    r = post(keyed.url, "/v1/chat/completions", chat_body(), {**fast(2), **headers})
    assert r.status == (200 if ok else 401), r.describe()
    if not ok:
        helpers.assert_openai_error_shape(r.json(), code="invalid_api_key")
    r = post(keyed.url, "/v1/messages", messages_body(), {**ANTH_NOAUTH, **fast(2), **headers})
    assert r.status == (200 if ok else 401), r.describe()
    if not ok:
        helpers.assert_anthropic_error_shape(r.json(), type_="authentication_error")


def test_models_need_key_too(keyed):
    assert helpers.get(keyed.url, "/v1/models").status == 401
    assert helpers.get(keyed.url, "/v1/models", {"authorization": "Bearer sk-secret"}).status == 200


def test_no_key_configured_accepts_anything(url):
    r = post(url, "/v1/chat/completions", chat_body(), {**fast(2), "authorization": "Bearer whatever"})
    assert r.status == 200, r.describe()
    r = post(url, "/v1/chat/completions", chat_body(), fast(2))
    assert r.status == 200, r.describe()


# --------------------------------------------------------------------------- request ids


def test_request_id_headers(oai, anth):
    raw = oai.chat.completions.with_raw_response.create(model=CHAT_MODEL, messages=MSGS, extra_headers=fast(2))
    rid = raw.headers.get("x-request-id")
    assert rid
    raw2 = oai.chat.completions.with_raw_response.create(model=CHAT_MODEL, messages=MSGS, extra_headers=fast(2))
    assert raw2.headers.get("x-request-id") != rid, "request ids must be unique"
    m = anth.messages.with_raw_response.create(model=CLAUDE_MODEL, max_tokens=20, messages=MSGS, extra_headers=fast(2))
    assert m.headers.get("request-id")
    assert m.parse()._request_id == m.headers.get("request-id")


# --------------------------------------------------------------------------- bad input


def _good_openai(url):
    r = post(url, "/v1/chat/completions", chat_body(), fast(2))
    assert r.status == 200, f"mock stopped serving after a bad request: {r.describe()}"
    ChatCompletion.model_validate(r.json())


def _good_anthropic(url):
    r = post(url, "/v1/messages", messages_body(), {**ANTHROPIC_RAW_HEADERS, **fast(2)})
    assert r.status == 200, f"mock stopped serving after a bad request: {r.describe()}"


OPENAI_BAD_BODIES = {
    "invalid-json": b'{"model": "mock-gpt", "messages": [',
    "not-an-object": b"[1,2,3]",
    "empty-body": b"",
    "missing-model": {"messages": MSGS},
    "missing-messages": {"model": CHAT_MODEL},
    "messages-is-string": {"model": CHAT_MODEL, "messages": "hello"},
    "model-is-number": {"model": 42, "messages": MSGS},
    "max-tokens-is-string": {"model": CHAT_MODEL, "messages": MSGS, "max_tokens": "ten"},
}


@pytest.mark.parametrize("name", list(OPENAI_BAD_BODIES))
def test_openai_bad_body_400(url, name):
    r = post(url, "/v1/chat/completions", OPENAI_BAD_BODIES[name], fast(2))
    assert r.status == 400, r.describe()
    helpers.assert_openai_error_shape(r.json(), type_="invalid_request_error")
    assert r.header("x-request-id")
    _good_openai(url)


ANTHROPIC_BAD_BODIES = {
    "invalid-json": b'{"model": "mock-claude", ',
    "missing-model": {"max_tokens": 10, "messages": MSGS},
    "missing-messages": {"model": CLAUDE_MODEL, "max_tokens": 10},
    "messages-is-string": {"model": CLAUDE_MODEL, "max_tokens": 10, "messages": "hello"},
    "max-tokens-is-string": {"model": CLAUDE_MODEL, "max_tokens": "10", "messages": MSGS},
}


@pytest.mark.parametrize("name", list(ANTHROPIC_BAD_BODIES))
def test_anthropic_bad_body_400(url, name):
    r = post(url, "/v1/messages", ANTHROPIC_BAD_BODIES[name], {**ANTHROPIC_RAW_HEADERS, **fast(2)})
    assert r.status == 400, r.describe()
    body = r.json()
    helpers.assert_anthropic_error_shape(body, type_="invalid_request_error")
    assert r.header("request-id")
    _good_anthropic(url)


@pytest.mark.parametrize("path", ["/v1/embeddings", "/v1/completions", "/v1/responses"])
def test_other_endpoints_invalid_json_400(url, path):
    r = post(url, path, b"{nope", fast(2))
    assert r.status == 400, r.describe()
    helpers.assert_openai_error_shape(r.json())
    _good_openai(url)


def test_count_tokens_invalid_json_400(url):
    r = post(url, "/v1/messages/count_tokens", b"{", ANTHROPIC_RAW_HEADERS)
    assert r.status == 400, r.describe()
    helpers.assert_anthropic_error_shape(r.json(), type_="invalid_request_error")
    _good_anthropic(url)


@pytest.mark.parametrize(
    "path",
    ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses", "/v1/messages", "/openai/v1/chat/completions"],
)
def test_get_on_post_route_405(url, path):
    r = helpers.get(url, path)
    assert r.status == 405, r.describe()
    _good_openai(url)


def test_405_carries_allow_header(url):
    """RFC 9110 15.5.6: a 405 response MUST carry an Allow header."""
    r = helpers.get(url, "/v1/chat/completions")
    assert r.status == 405
    allow = r.header("allow")
    assert allow and "POST" in allow.upper(), f"405 without `Allow: POST`: {r.describe()}"


@pytest.mark.parametrize("path", ["/nope", "/v1/nope", "/v2/chat/completions", "/v1/chat/completions/extra"])
def test_unknown_path_404(url, path):
    r = post(url, path, chat_body(), fast(2))
    assert r.status == 404, r.describe()
    r = helpers.get(url, path)
    assert r.status == 404, r.describe()
    _good_openai(url)


def test_unknown_model_retrieve_404(oai):
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("no-such-model")


def test_body_over_max_body_413(mock_factory):
    m = mock_factory("--max-body", "1024")
    big = chat_body(messages=[{"role": "user", "content": "x" * 2048}])
    r = post(m.url, "/v1/chat/completions", big, fast(2))
    assert r.status == 413, r.describe()
    rb = post(m.url, "/v1/messages", messages_body(messages=[{"role": "user", "content": "x" * 2048}]), {**ANTHROPIC_RAW_HEADERS, **fast(2)})
    assert rb.status == 413, rb.describe()
    # under the limit still works on the same mock
    _good_openai(m.url)
    _good_anthropic(m.url)


def test_body_over_max_body_sdk(mock_factory):
    m = mock_factory("--max-body", "1024")
    c = helpers.anthropic_client(m.url)
    with pytest.raises(anthropic.ContentTooLargeError):
        c.messages.create(model=CLAUDE_MODEL, max_tokens=10, messages=[{"role": "user", "content": "y" * 4096}], extra_headers=fast(2))
    o = helpers.openai_client(m.url)
    with pytest.raises(openai.APIStatusError) as ei:
        o.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "y" * 4096}], extra_headers=fast(2))
    assert ei.value.status_code == 413
    assert o.chat.completions.create(model=CHAT_MODEL, messages=MSGS, extra_headers=fast(2)).usage.completion_tokens == 2


@pytest.mark.parametrize(
    "payload",
    [
        b"THIS IS NOT HTTP\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost localhost\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
        b"GET /health HTTP/1.1\r\nHost: x\r\n\x00\x01\x02: bad\r\n\r\n",
    ],
    ids=["garbage", "header-without-colon", "bad-content-length", "binary-header-name"],
)
def test_malformed_http_400_and_close(url, payload):
    got, closed = helpers.raw_socket_exchange(url, payload, timeout=5.0)
    assert got.startswith(b"HTTP/1.1 400") or got.startswith(b"HTTP/1.0 400"), f"expected a 400 status line, got {got[:200]!r}"
    assert closed, f"the mock must close the connection after a malformed request; got {got[:300]!r}"
    _good_openai(url)


def test_half_request_then_close_does_not_hurt(url):
    import socket
    import urllib.parse

    u = urllib.parse.urlsplit(url)
    for _ in range(5):
        s = socket.create_connection((u.hostname, u.port), timeout=5)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"model\"")
        s.close()
    _good_openai(url)
    _good_anthropic(url)
