"""Timing override headers and HTTP/1.1 behaviour that real gateways and SDKs rely on.

Timing assertions are lower bounds only (upper bounds, where present, are very generous).
"""

from __future__ import annotations

import json
import socket
import time
import urllib.parse

import pytest
from openai.types.chat import ChatCompletion

import helpers
from helpers import (
    ANTHROPIC_RAW_HEADERS,
    CHAT_MODEL,
    CLAUDE_MODEL,
    EMBED_MODEL,
    chat_body,
    fast,
    messages_body,
    post,
)

MSGS = [{"role": "user", "content": "hi"}]


# --------------------------------------------------------------------------- timing overrides


def test_ttft_override_is_a_lower_bound(url):
    h = {"x-mock-ttft-ms": "300", "x-mock-itl-ms": "0", "x-mock-output-tokens": "3"}
    r = post(url, "/v1/chat/completions", chat_body(n_stream=True), h)
    s = helpers.check_openai_text_stream(r, kind="chat", include_usage=False, expect_tokens=3)
    events, _ = r.sse()
    first_content = next(e.t for e in events if e.data.startswith("{") and e.json()["choices"][0]["delta"].get("content"))
    assert first_content - r.t_start >= 0.3 - 0.005, f"first token after {(first_content - r.t_start) * 1000:.0f} ms"
    assert s.content_chunks == 3


def test_itl_override_is_a_lower_bound(url):
    h = {"x-mock-ttft-ms": "0", "x-mock-itl-ms": "60", "x-mock-output-tokens": "6"}
    r = post(url, "/v1/messages", messages_body(stream=True), {**ANTHROPIC_RAW_HEADERS, **h})
    helpers.check_anthropic_stream(r, expect_tokens=6)
    events, _ = r.sse()
    times = [e.t for e in events if e.event == "content_block_delta"]
    assert times[-1] - times[0] >= 5 * 0.060 - 0.03, f"6 tokens at 60 ms ITL took {(times[-1] - times[0]) * 1000:.0f} ms"


def test_non_stream_waits_for_generation(url):
    """A non-streamed answer arrives no earlier than the TTFT override (lower bound only)."""
    h = {"x-mock-ttft-ms": "250", "x-mock-itl-ms": "0", "x-mock-output-tokens": "2"}
    r = post(url, "/v1/chat/completions", chat_body(), h)
    assert r.status == 200
    assert r.chunks[-1][0] - r.t_start >= 0.25 - 0.005


# --------------------------------------------------------------------------- sizes and content


@pytest.mark.parametrize("n", [1, 2000])
def test_stream_sizes_chat(url, n):
    r = post(url, "/v1/chat/completions", chat_body(n_stream=True, stream_options={"include_usage": True}), fast(n))
    s = helpers.check_openai_text_stream(r, kind="chat", include_usage=True, expect_tokens=n, expect_finish="stop")
    assert s.usage["completion_tokens"] == n


@pytest.mark.parametrize("n", [1, 2000])
def test_stream_sizes_anthropic(url, n):
    r = post(url, "/v1/messages", messages_body(stream=True, max_tokens=4096), {**ANTHROPIC_RAW_HEADERS, **fast(n)})
    helpers.check_anthropic_stream(r, expect_tokens=n, expect_stop="end_turn")


def test_stream_size_responses(url):
    r = post(url, "/v1/responses", {"model": CHAT_MODEL, "input": "x", "stream": True}, fast(1500))
    helpers.check_responses_stream(r, expect_tokens=1500)


def test_unicode_and_escapes_in_request(oai, anth):
    content = 'héllo wörld 👋 \u4f60\u597d "quoted" back\\slash \n\t tab'
    r = oai.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": content}], extra_headers=fast(2))
    assert ChatCompletion.model_validate(r.to_dict()).usage.prompt_tokens > 0
    m = anth.messages.create(model=CLAUDE_MODEL, max_tokens=10, messages=[{"role": "user", "content": content}], extra_headers=fast(2))
    assert m.usage.output_tokens == 2


def test_raw_json_unicode_escapes(url):
    body = b'{"model":"mock-gpt","messages":[{"role":"user","content":"\\u00e9\\ud83d\\udc4b \\"x\\" \\/"}]}'
    r = post(url, "/v1/chat/completions", body, fast(2))
    assert r.status == 200, r.describe()
    ChatCompletion.model_validate(r.json())


def test_multimodal_style_content_parts_accepted(oai):
    """Chat content as a list of parts (what gateways forward for vision models)."""
    r = oai.chat.completions.create(
        model=CHAT_MODEL,
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "describe"}, {"type": "text", "text": "this"}]},
        ],
        extra_headers=fast(2),
    )
    assert r.usage.completion_tokens == 2


def test_embeddings_token_array_input(url):
    r = post(url, "/v1/embeddings", {"model": EMBED_MODEL, "input": [[1, 2, 3], [4, 5]], "encoding_format": "float", "dimensions": 4})
    assert r.status == 200, r.describe()
    d = r.json()
    assert [x["index"] for x in d["data"]] == [0, 1]


def test_unknown_anthropic_version_and_beta_accepted(url):
    h = {"anthropic-version": "2099-01-01", "anthropic-beta": "some-future-beta-2099-01-01", "x-api-key": "k", **fast(2)}
    r = post(url, "/v1/messages", messages_body(), h)
    assert r.status == 200, r.describe()


def test_headers_are_case_insensitive(url):
    r = post(url, "/v1/chat/completions", chat_body(), {"X-Mock-TTFT-Ms": "0", "X-MOCK-OUTPUT-TOKENS": "4", "X-Mock-Fault": "status=429"})
    assert r.status == 429, f"mixed-case x-mock-fault ignored: {r.describe()}"
    r = post(url, "/v1/chat/completions", chat_body(), {"X-Mock-TTFT-Ms": "0", "X-MOCK-OUTPUT-TOKENS": "4"})
    assert r.json()["usage"]["completion_tokens"] == 4


def test_query_string_ignored(url):
    r = post(url, "/v1/chat/completions?api-version=2024-06-01", chat_body(), fast(2))
    assert r.status == 200, r.describe()
    r = helpers.get(url, "/v1/models?limit=20", {"anthropic-version": "2023-06-01"})
    assert r.status == 200, r.describe()


# --------------------------------------------------------------------------- connection handling


def _sock(url):
    u = urllib.parse.urlsplit(url)
    return socket.create_connection((u.hostname, u.port), timeout=5)


def _read_until_closed(s, deadline_s=5.0):
    got = b""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            b = s.recv(65536)
        except socket.timeout:
            return got, False
        if not b:
            return got, True
        got += b
    return got, False


def test_connection_close_header_is_honoured(url):
    s = _sock(url)
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got, closed = _read_until_closed(s)
    finally:
        s.close()
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    assert closed, "server kept the connection open despite `Connection: close`"


def test_pipelined_requests_answered_in_order(url):
    body = json.dumps(chat_body()).encode()
    one = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"x-mock-ttft-ms: 0\r\nx-mock-itl-ms: 0\r\nx-mock-output-tokens: %d\r\nContent-Length: %d\r\n\r\n%s"
    )
    payload = one % (2, len(body), body) + one % (3, len(body), body) + b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    s = _sock(url)
    try:
        s.sendall(payload)
        got, _ = _read_until_closed(s)
    finally:
        s.close()
    resps = _split_responses(got)
    statuses = [h.split(b"\r\n", 1)[0] for h, _ in resps]
    assert len(resps) == 3 and all(x.startswith(b"HTTP/1.1 200") for x in statuses), f"pipelined responses: {statuses}"
    usages = [json.loads(b)["usage"]["completion_tokens"] for _, b in resps[:2]]
    assert usages == [2, 3], f"responses out of order: {usages}"


def _split_responses(raw: bytes) -> list[tuple[bytes, bytes]]:
    """Split concatenated content-length HTTP/1.1 responses into (head, body) pairs."""
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, f"truncated response head: {raw[:200]!r}"
        n = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v.strip())
        out.append((head, rest[:n]))
        raw = rest[n:]
    return out


def test_chunked_request_body_accepted(url):
    body = json.dumps(chat_body()).encode()
    half = len(body) // 2
    chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, body[:half], len(body) - half, body[half:])
    s = _sock(url)
    try:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"x-mock-ttft-ms: 0\r\nx-mock-output-tokens: 2\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked
        )
        got, _ = _read_until_closed(s)
    finally:
        s.close()
    assert got.startswith(b"HTTP/1.1 200"), f"chunked request body not accepted: {got[:300]!r}"


def test_expect_100_continue(url):
    body = json.dumps(chat_body()).encode()
    s = _sock(url)
    try:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
            b"x-mock-ttft-ms: 0\r\nx-mock-output-tokens: 2\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        s.settimeout(2.0)
        try:
            first = s.recv(65536)
        except socket.timeout:
            first = b""  # server waits silently for the body: allowed
        s.settimeout(5.0)
        s.sendall(body)
        rest, _ = _read_until_closed(s)
    finally:
        s.close()
    got = first + rest
    final = got.split(b"HTTP/1.1 100 Continue\r\n\r\n", 1)[-1]
    assert final.startswith(b"HTTP/1.1 200"), f"Expect: 100-continue flow failed: {got[:300]!r}"


def test_huge_header_rejected_and_server_survives(url):
    s = _sock(url)
    got = b""
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
        got, _ = _read_until_closed(s)
    except (BrokenPipeError, ConnectionResetError):
        pass  # closing on us is an acceptable answer too
    finally:
        s.close()
    assert not got or got.startswith(b"HTTP/1.1 4"), f"a 200 KB header must get a 4xx or a close, got {got[:200]!r}"
    r = post(url, "/v1/chat/completions", chat_body(), fast(2))
    assert r.status == 200, "mock stopped serving after an oversized header"


def test_client_abort_mid_stream_frees_in_flight(url):
    """Clients that hang up mid-stream must not leak in-flight requests."""
    for _ in range(3):
        s = _sock(url)
        body = json.dumps(chat_body(n_stream=True)).encode()
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"x-mock-ttft-ms: 0\r\nx-mock-itl-ms: 20\r\nx-mock-output-tokens: 500\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.close()
    deadline = time.monotonic() + 5.0
    inflight = None
    while time.monotonic() < deadline:
        m = helpers.parse_metrics(helpers.get(url, "/metrics").body.decode())
        inflight = m.get("llmload_mock_in_flight")
        if inflight is not None and inflight <= 1:  # the /metrics request itself may count
            break
        time.sleep(0.1)
    assert inflight is not None and inflight <= 1, f"in-flight gauge stuck at {inflight} after clients hung up"
    r = post(url, "/v1/chat/completions", chat_body(), fast(2))
    assert r.status == 200


def test_many_concurrent_sdk_clients(url):
    from concurrent.futures import ThreadPoolExecutor

    oc = helpers.openai_client(url)
    ac = helpers.anthropic_client(url)

    def one(i):
        if i % 2:
            r = oc.chat.completions.create(model=CHAT_MODEL, messages=MSGS, stream=True, stream_options={"include_usage": True},
                                           extra_headers={"x-mock-output-tokens": "20", "x-mock-itl-ms": "2", "x-mock-ttft-ms": "5"})
            chunks = list(r)
            return chunks[-1].usage.completion_tokens
        with ac.messages.stream(model=CLAUDE_MODEL, max_tokens=100, messages=MSGS,
                                extra_headers={"x-mock-output-tokens": "20", "x-mock-itl-ms": "2", "x-mock-ttft-ms": "5"}) as s:
            return s.get_final_message().usage.output_tokens

    with ThreadPoolExecutor(16) as ex:
        res = list(ex.map(one, range(32)))
    assert res == [20] * 32
