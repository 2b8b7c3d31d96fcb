"""Shared helpers for the conformance suite: raw HTTP (stdlib only), SSE parsing,
SDK client construction and the per-type validators used by every test file.

Raw checks deliberately use `http.client` / `socket` from the standard library so the
bytes on the wire are judged independently of whatever HTTP stack the SDKs ship with.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai

# Timing overrides so every request is answered as fast as the mock can.
FAST = {"x-mock-ttft-ms": "0", "x-mock-itl-ms": "0"}

CHAT_MODEL = "mock-gpt"
CLAUDE_MODEL = "mock-claude"
EMBED_MODEL = "mock-embed"
DEFAULT_MODELS = (CHAT_MODEL, CLAUDE_MODEL, EMBED_MODEL)

# OpenAI-style prefixes under which every endpoint is mounted.
PREFIXES = ("/v1", "/openai/v1", "/anthropic/v1")
# Anthropic SDK base paths; the SDK appends `/v1/...`.
ANTHROPIC_BASES = ("", "/anthropic", "/openai")

HTTP_TIMEOUT = 20.0


def fast(n: int | None = None, **extra: str) -> dict[str, str]:
    """FAST headers, plus `x-mock-output-tokens: n` when n is given."""
    h = dict(FAST)
    if n is not None:
        h["x-mock-output-tokens"] = str(n)
    h.update(extra)
    return h


def fault(spec: str, n: int | None = None) -> dict[str, str]:
    return fast(n, **{"x-mock-fault": spec})


# --------------------------------------------------------------------------- clients


def openai_client(url: str, prefix: str = "/v1", api_key: str = "sk-test", **kw: Any) -> openai.OpenAI:
    headers = dict(FAST)
    headers.update(kw.pop("default_headers", {}) or {})
    return openai.OpenAI(
        base_url=f"{url}{prefix}",
        api_key=api_key,
        max_retries=0,
        timeout=HTTP_TIMEOUT,
        default_headers=headers,
        **kw,
    )


def anthropic_client(url: str, base: str = "", api_key: str = "sk-test", **kw: Any) -> anthropic.Anthropic:
    headers = dict(FAST)
    headers.update(kw.pop("default_headers", {}) or {})
    return anthropic.Anthropic(
        base_url=f"{url}{base}",
        api_key=api_key,
        max_retries=0,
        timeout=HTTP_TIMEOUT,
        default_headers=headers,
        **kw,
    )


# --------------------------------------------------------------------------- SSE


@dataclass
class SSEEvent:
    event: str | None
    data: str | None
    fields: list[tuple[str, str]]
    raw: str
    t: float | None = None

    def json(self) -> Any:
        assert self.data is not None, f"SSE event without data line: {self.raw!r}"
        try:
            return json.loads(self.data)
        except json.JSONDecodeError as e:  # pragma: no cover - reported as failure
            raise AssertionError(f"SSE data is not JSON ({e}): {self.data[:300]!r}") from None


_SEP = re.compile(r"\r\n\r\n|\n\n|\r\r")


def _parse_block(block: str, t: float | None) -> SSEEvent | None:
    event = None
    data_lines: list[str] = []
    fields: list[tuple[str, str]] = []
    for line in re.split(r"\r\n|\n|\r", block):
        if line == "" or line.startswith(":"):
            continue
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        fields.append((name, value))
        if name == "event":
            event = value
        elif name == "data":
            data_lines.append(value)
    if not fields:
        return None  # comment-only block
    return SSEEvent(event=event, data="\n".join(data_lines) if data_lines else None, fields=fields, raw=block, t=t)


class SSEParser:
    """Incremental parser: feed (time, bytes) pairs; each event is stamped with the
    arrival time of the read that completed it."""

    def __init__(self) -> None:
        self.buf = ""
        self.events: list[SSEEvent] = []
        self._dec = b""

    def feed(self, data: bytes, t: float | None = None) -> None:
        data = self._dec + data
        try:
            text = data.decode("utf-8")
            self._dec = b""
        except UnicodeDecodeError as e:
            # keep an incomplete trailing multi-byte sequence for the next read
            text = data[: e.start].decode("utf-8")
            self._dec = data[e.start :]
        self.buf += text
        while True:
            m = _SEP.search(self.buf)
            if not m:
                break
            block, self.buf = self.buf[: m.start()], self.buf[m.end() :]
            ev = _parse_block(block, t)
            if ev is not None:
                self.events.append(ev)

    @property
    def leftover(self) -> str:
        return self.buf


def parse_sse(body: bytes) -> tuple[list[SSEEvent], str]:
    p = SSEParser()
    p.feed(body)
    return p.events, p.leftover


# --------------------------------------------------------------------------- raw HTTP


@dataclass
class RawResponse:
    status: int
    reason: str
    headers: http.client.HTTPMessage
    chunks: list[tuple[float, bytes]]
    t_start: float
    t_headers: float
    error: BaseException | None = None
    version: int = 11

    @property
    def body(self) -> bytes:
        return b"".join(c for _, c in self.chunks)

    @property
    def complete(self) -> bool:
        """True when the body ended cleanly (chunked terminator / full content-length)."""
        return self.error is None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except json.JSONDecodeError:
            raise AssertionError(
                f"body is not JSON (status {self.status}, content-type {self.header('content-type')}): {self.body[:300]!r}"
            ) from None

    def sse(self) -> tuple[list[SSEEvent], str]:
        p = SSEParser()
        for t, c in self.chunks:
            p.feed(c, t)
        return p.events, p.leftover

    def describe(self) -> str:
        return f"HTTP {self.status}, headers={dict(self.headers)!r}, body[:400]={self.body[:400]!r}, error={self.error!r}"


def connect(url: str, timeout: float = HTTP_TIMEOUT) -> http.client.HTTPConnection:
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)


def raw_request(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    *,
    conn: http.client.HTTPConnection | None = None,
    timeout: float = HTTP_TIMEOUT,
) -> RawResponse:
    """One request with stdlib http.client; reads the whole body with read1 so each
    piece is time-stamped. A body cut short is recorded in `.error`, never raised."""
    own = conn is None
    if conn is None:
        conn = connect(url, timeout)
    hdrs: dict[str, str] = {}
    data: bytes | None = None
    if body is not None:
        if isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        hdrs["content-type"] = "application/json"
    if headers:
        hdrs.update(headers)
    t0 = time.monotonic()
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    t_headers = time.monotonic()
    chunks: list[tuple[float, bytes]] = []
    error: BaseException | None = None
    try:
        while True:
            b = resp.read1(65536)
            if not b:
                break
            chunks.append((time.monotonic(), b))
            if resp.length == 0:
                break
        rest = resp.read()  # marks a content-length response closed so the connection is reusable
        if rest:
            chunks.append((time.monotonic(), rest))
    except (http.client.HTTPException, ValueError, OSError) as e:
        error = e
    out = RawResponse(
        status=resp.status,
        reason=resp.reason,
        headers=resp.headers,
        chunks=chunks,
        t_start=t0,
        t_headers=t_headers,
        error=error,
        version=resp.version,
    )
    if own:
        conn.close()
    return out


def post(url: str, path: str, body: Any, headers: dict[str, str] | None = None, **kw: Any) -> RawResponse:
    return raw_request(url, "POST", path, body, headers, **kw)


def get(url: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> RawResponse:
    return raw_request(url, "GET", path, None, headers, **kw)


def raw_socket_exchange(url: str, payload: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Send raw bytes; read until the peer closes or `timeout` passes.
    Returns (bytes read, closed_by_peer)."""
    u = urllib.parse.urlsplit(url)
    s = socket.create_connection((u.hostname, u.port), timeout=timeout)
    try:
        s.sendall(payload)
        got = b""
        deadline = time.monotonic() + timeout
        closed = False
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not b:
                closed = True
                break
            got += b
        return got, closed
    finally:
        s.close()


# --------------------------------------------------------------------------- request bodies


def chat_body(n_stream: bool = False, **kw: Any) -> dict[str, Any]:
    b: dict[str, Any] = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "Say hello to the mock."}]}
    if n_stream:
        b["stream"] = True
    b.update(kw)
    return b


def messages_body(stream: bool = False, **kw: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "model": CLAUDE_MODEL,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Say hello to the mock."}],
    }
    if stream:
        b["stream"] = True
    b.update(kw)
    return b


ANTHROPIC_RAW_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "sk-test"}


# --------------------------------------------------------------------------- error shapes


def assert_openai_error_shape(body: Any, *, type_: str | None = None, code: str | None = None) -> dict:
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"not an OpenAI error body: {body!r}"
    err = body["error"]
    for k in ("message", "type", "param", "code"):
        assert k in err, f"OpenAI error lacks key {k!r}: {body!r}"
    assert isinstance(err["message"], str) and err["message"], f"error.message must be a non-empty str: {body!r}"
    assert isinstance(err["type"], str) and err["type"], f"error.type must be a non-empty str: {body!r}"
    if type_ is not None:
        assert err["type"] == type_, f"error.type {err['type']!r} != {type_!r}: {body!r}"
    if code is not None:
        assert err["code"] == code, f"error.code {err['code']!r} != {code!r}: {body!r}"
    return err


def assert_anthropic_error_shape(body: Any, *, type_: str | None = None) -> dict:
    assert isinstance(body, dict), f"not an Anthropic error body: {body!r}"
    assert body.get("type") == "error", f"Anthropic error body needs type=error: {body!r}"
    err = body.get("error")
    assert isinstance(err, dict), f"Anthropic error body lacks error object: {body!r}"
    assert isinstance(err.get("type"), str) and err["type"], f"error.type missing: {body!r}"
    assert isinstance(err.get("message"), str), f"error.message missing: {body!r}"
    if type_ is not None:
        assert err["type"] == type_, f"error.type {err['type']!r} != {type_!r}: {body!r}"
    return err


# --------------------------------------------------------------------------- stream validators


def assert_sse_headers(r: RawResponse) -> None:
    ct = r.header("content-type") or ""
    assert ct.startswith("text/event-stream"), f"stream content-type is {ct!r}"
    assert r.header("content-length") is None, f"stream must not carry content-length: {r.describe()}"
    te = (r.header("transfer-encoding") or "").lower()
    assert "chunked" in te, f"stream must use chunked transfer-encoding, got {te!r}"


@dataclass
class ChatStreamSummary:
    chunks: list[dict] = field(default_factory=list)
    content_chunks: int = 0
    text: str = ""
    finish_reason: str | None = None
    usage: dict | None = None


def check_openai_text_stream(
    r: RawResponse,
    *,
    kind: str,  # "chat" or "completion"
    include_usage: bool,
    expect_tokens: int | None = None,
    expect_finish: str | None = None,
) -> ChatStreamSummary:
    """Raw-byte checks for OpenAI chat/completions SSE streams."""
    from openai.types import Completion
    from openai.types.chat import ChatCompletionChunk

    assert r.status == 200, r.describe()
    assert_sse_headers(r)
    assert r.complete, f"stream body did not end with the chunked terminator: {r.error!r}"
    events, leftover = r.sse()
    assert leftover.strip() == "", f"trailing bytes after the last SSE event: {leftover!r}"
    assert events, "no SSE events"
    for ev in events:
        assert ev.event is None, f"OpenAI streams must not carry `event:` lines, got {ev.raw!r}"
        assert [f for f, _ in ev.fields] == ["data"], f"only one data line per event expected: {ev.raw!r}"
    assert events[-1].data == "[DONE]", f"last event must be `data: [DONE]`, got {events[-1].raw!r}"
    assert sum(1 for e in events if e.data == "[DONE]") == 1, "exactly one [DONE]"
    chunks = [e.json() for e in events[:-1]]
    assert chunks, "no chunks before [DONE]"

    obj = "chat.completion.chunk" if kind == "chat" else "text_completion"
    model_cls = ChatCompletionChunk if kind == "chat" else Completion
    s = ChatStreamSummary(chunks=chunks)
    first = chunks[0]
    for i, c in enumerate(chunks):
        assert "error" not in c, f"unexpected error frame: {c!r}"
        if kind == "completion":
            validate_completion_chunk(c)
        else:
            model_cls.model_validate(c)
        assert c["object"] == obj, f"chunk {i}: object {c.get('object')!r} != {obj!r}"
        for k in ("id", "created", "model"):
            assert c[k] == first[k], f"chunk {i}: {k} {c[k]!r} differs from first chunk {first[k]!r}"

    if include_usage:
        usage_chunk = chunks[-1]
        assert usage_chunk["choices"] == [], f"usage chunk must have choices: [], got {usage_chunk!r}"
        assert isinstance(usage_chunk.get("usage"), dict), f"last chunk before [DONE] must carry usage: {usage_chunk!r}"
        body_chunks = chunks[:-1]
        for c in body_chunks:
            assert c.get("usage") is None, f"only the final chunk may carry usage: {c!r}"
        s.usage = usage_chunk["usage"]
    else:
        body_chunks = chunks
        for c in chunks:
            assert c.get("usage") is None, f"usage emitted without stream_options.include_usage: {c!r}"
            assert c["choices"], f"chunk with empty choices without include_usage: {c!r}"

    if kind == "chat":
        d0 = body_chunks[0]["choices"][0]["delta"]
        assert d0.get("role") == "assistant", f"first chunk must carry delta.role=assistant: {body_chunks[0]!r}"

    finish_idx = []
    for i, c in enumerate(body_chunks):
        assert len(c["choices"]) == 1, f"expected exactly one choice per chunk: {c!r}"
        ch = c["choices"][0]
        assert ch["index"] == 0
        piece = ch["delta"].get("content") if kind == "chat" else ch.get("text")
        if ch.get("finish_reason") is not None:
            finish_idx.append(i)
        if piece:
            assert not finish_idx or finish_idx[0] >= i, f"content after the finish chunk: {c!r}"
            s.content_chunks += 1
            s.text += piece
    assert len(finish_idx) == 1, f"exactly one chunk must carry a finish_reason, got {len(finish_idx)}: {[body_chunks[i] for i in finish_idx]!r}"
    assert finish_idx[0] == len(body_chunks) - 1, "the finish chunk must be the last choice-bearing chunk"
    s.finish_reason = body_chunks[finish_idx[0]]["choices"][0]["finish_reason"]
    if expect_finish is not None:
        assert s.finish_reason == expect_finish, f"finish_reason {s.finish_reason!r} != {expect_finish!r}"
    if expect_tokens is not None:
        assert s.content_chunks == expect_tokens, f"{s.content_chunks} content deltas, expected {expect_tokens}"
    if s.usage is not None:
        u = s.usage
        assert u["completion_tokens"] == s.content_chunks, (
            f"usage.completion_tokens {u['completion_tokens']} != number of content deltas {s.content_chunks}"
        )
        assert u["prompt_tokens"] > 0, f"prompt_tokens must be > 0: {u!r}"
        assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], f"total_tokens mismatch: {u!r}"
    return s


ANTHROPIC_EVENT_TYPES: dict[str, Any] = {}


def _anthropic_event_types() -> dict[str, Any]:
    if not ANTHROPIC_EVENT_TYPES:
        from anthropic.types import (
            RawContentBlockDeltaEvent,
            RawContentBlockStartEvent,
            RawContentBlockStopEvent,
            RawMessageDeltaEvent,
            RawMessageStartEvent,
            RawMessageStopEvent,
        )

        ANTHROPIC_EVENT_TYPES.update(
            {
                "message_start": RawMessageStartEvent,
                "message_delta": RawMessageDeltaEvent,
                "message_stop": RawMessageStopEvent,
                "content_block_start": RawContentBlockStartEvent,
                "content_block_delta": RawContentBlockDeltaEvent,
                "content_block_stop": RawContentBlockStopEvent,
            }
        )
    return ANTHROPIC_EVENT_TYPES


def validate_completion_chunk(d: dict) -> None:
    """Strictly validate a legacy completions stream chunk with the SDK's Completion type,
    except for the `finish_reason: null` the real API streams (see check_openai_text_stream)."""
    from openai.types import Completion

    c_v = json.loads(json.dumps(d))
    for ch in c_v.get("choices") or []:
        if isinstance(ch, dict) and ch.get("finish_reason", "x") is None:
            ch["finish_reason"] = "stop"
    Completion.model_validate(c_v)


def validate_anthropic_event(d: dict) -> None:
    """Validate one Anthropic stream event (dict) with the SDK's RawMessageStreamEvent variants."""
    t = d.get("type")
    if t == "ping":
        return  # not part of RawMessageStreamEvent; the SDKs skip it
    cls = _anthropic_event_types().get(t)
    assert cls is not None, f"unknown Anthropic stream event type {t!r}: {d!r}"
    cls.model_validate(d)


@dataclass
class AnthropicStreamSummary:
    events: list[dict]
    text: str
    deltas: int
    stop_reason: str | None
    output_tokens: int
    input_tokens: int


_ANTHROPIC_ORDER = re.compile(r"^S(B D* E)+ M P$".replace(" ", ""))


def check_anthropic_stream(
    r: RawResponse,
    *,
    expect_tokens: int | None = None,
    expect_stop: str | None = None,
) -> AnthropicStreamSummary:
    assert r.status == 200, r.describe()
    assert_sse_headers(r)
    assert r.complete, f"stream body did not end with the chunked terminator: {r.error!r}"
    events, leftover = r.sse()
    assert leftover.strip() == "", f"trailing bytes after the last SSE event: {leftover!r}"
    datas = []
    for ev in events:
        assert ev.event is not None, f"Anthropic events need an `event:` line: {ev.raw!r}"
        assert ev.data != "[DONE]", "Anthropic streams have no [DONE]"
        d = ev.json()
        assert d.get("type") == ev.event, f"event line {ev.event!r} != data.type {d.get('type')!r}"
        validate_anthropic_event(d)
        datas.append(d)
    non_ping = [d for d in datas if d["type"] != "ping"]
    code = {
        "message_start": "S",
        "content_block_start": "B",
        "content_block_delta": "D",
        "content_block_stop": "E",
        "message_delta": "M",
        "message_stop": "P",
    }
    seq = "".join(code.get(d["type"], "?") for d in non_ping)
    assert _ANTHROPIC_ORDER.match(seq), f"bad Anthropic event order: {[d['type'] for d in non_ping]}"
    assert datas[-1]["type"] == "message_stop", "message_stop must be the very last event"

    from anthropic.types import Message

    start = non_ping[0]["message"]
    Message.model_validate(start)
    assert start["content"] == [], f"message_start.message.content must be empty: {start!r}"
    assert start["usage"]["input_tokens"] > 0, f"input_tokens must be > 0: {start['usage']!r}"

    text = ""
    deltas = 0
    open_index = None
    for d in non_ping:
        if d["type"] == "content_block_start":
            open_index = d["index"]
            assert d["content_block"]["type"] == "text", d
        elif d["type"] == "content_block_delta":
            assert d["index"] == open_index, f"delta index {d['index']} != open block {open_index}"
            assert d["delta"]["type"] == "text_delta", d
            text += d["delta"]["text"]
            deltas += 1
        elif d["type"] == "content_block_stop":
            assert d["index"] == open_index, f"stop index {d['index']} != open block {open_index}"
    md = [d for d in non_ping if d["type"] == "message_delta"][0]
    out = md["usage"]["output_tokens"]
    assert out == deltas, f"message_delta.usage.output_tokens {out} != number of text deltas {deltas} (must be cumulative)"
    stop = md["delta"].get("stop_reason")
    if expect_stop is not None:
        assert stop == expect_stop, f"stop_reason {stop!r} != {expect_stop!r}"
    if expect_tokens is not None:
        assert deltas == expect_tokens, f"{deltas} text deltas, expected {expect_tokens}"
    return AnthropicStreamSummary(
        events=datas, text=text, deltas=deltas, stop_reason=stop, output_tokens=out,
        input_tokens=start["usage"]["input_tokens"],
    )


RESPONSES_EVENT_TYPES: dict[str, Any] = {}


def _responses_event_types() -> dict[str, Any]:
    if not RESPONSES_EVENT_TYPES:
        from openai.types import responses as r

        RESPONSES_EVENT_TYPES.update(
            {
                "response.created": r.ResponseCreatedEvent,
                "response.in_progress": r.ResponseInProgressEvent,
                "response.output_item.added": r.ResponseOutputItemAddedEvent,
                "response.content_part.added": r.ResponseContentPartAddedEvent,
                "response.output_text.delta": r.ResponseTextDeltaEvent,
                "response.output_text.done": r.ResponseTextDoneEvent,
                "response.content_part.done": r.ResponseContentPartDoneEvent,
                "response.output_item.done": r.ResponseOutputItemDoneEvent,
                "response.completed": r.ResponseCompletedEvent,
                "response.incomplete": r.ResponseIncompleteEvent,
                "response.failed": r.ResponseFailedEvent,
                "error": r.ResponseErrorEvent,
            }
        )
    return RESPONSES_EVENT_TYPES


def validate_responses_event(d: dict) -> None:
    cls = _responses_event_types().get(d.get("type"))
    assert cls is not None, f"unexpected Responses stream event type {d.get('type')!r}"
    cls.model_validate(d)


_RESP_CODE = {
    "response.created": "C",
    "response.in_progress": "I",
    "response.output_item.added": "A",
    "response.content_part.added": "P",
    "response.output_text.delta": "d",
    "response.output_text.done": "t",
    "response.content_part.done": "p",
    "response.output_item.done": "a",
    "response.completed": "Z",
    "response.incomplete": "Z",
}


@dataclass
class ResponsesStreamSummary:
    events: list[dict]
    text: str
    deltas: int
    final: dict


def check_responses_stream(
    r: RawResponse, *, expect_tokens: int | None = None, terminal: str = "response.completed"
) -> ResponsesStreamSummary:
    from openai.types.responses import Response

    assert r.status == 200, r.describe()
    assert_sse_headers(r)
    assert r.complete, f"stream body did not end with the chunked terminator: {r.error!r}"
    events, leftover = r.sse()
    assert leftover.strip() == "", f"trailing bytes after the last SSE event: {leftover!r}"
    datas = []
    for ev in events:
        assert ev.data != "[DONE]", "Responses streams must not end with [DONE]"
        assert ev.event is not None, f"Responses events need an `event:` line: {ev.raw!r}"
        d = ev.json()
        assert d.get("type") == ev.event, f"event line {ev.event!r} != data.type {d.get('type')!r}"
        validate_responses_event(d)
        datas.append(d)
    seqs = [d["sequence_number"] for d in datas]
    assert seqs and seqs[0] == 0, f"sequence_number must start at 0: {seqs[:5]}"
    assert all(b > a for a, b in zip(seqs, seqs[1:])), f"sequence_number not strictly increasing: {seqs}"
    code = "".join(_RESP_CODE.get(d["type"], "?") for d in datas)
    assert re.fullmatch(r"CIAPd*tpaZ", code), f"bad Responses event order: {[d['type'] for d in datas]}"
    assert datas[-1]["type"] == terminal, f"terminal event {datas[-1]['type']!r} != {terminal!r}"

    created = datas[0]["response"]
    assert created["status"] == "in_progress", f"response.created status {created['status']!r}"
    assert created["output"] == [], "response.created must have empty output"
    item = datas[2]["item"]
    assert item["type"] == "message" and item["role"] == "assistant", item
    item_id = item["id"]
    text = ""
    deltas = 0
    for d in datas[3:-1]:
        assert d.get("item_id", item_id) == item_id, f"item_id mismatch in {d['type']}: {d.get('item_id')!r} != {item_id!r}"
        if d["type"] == "response.output_text.delta":
            text += d["delta"]
            deltas += 1
    done = [d for d in datas if d["type"] == "response.output_text.done"][0]
    assert done["text"] == text, "output_text.done.text != concatenated deltas"
    part_done = [d for d in datas if d["type"] == "response.content_part.done"][0]
    assert part_done["part"].get("text") == text, "content_part.done.part.text != concatenated deltas"
    item_done = [d for d in datas if d["type"] == "response.output_item.done"][0]
    assert item_done["item"]["content"][0]["text"] == text, "output_item.done text != concatenated deltas"
    final = datas[-1]["response"]
    Response.model_validate(final)
    assert final["output"][0]["content"][0]["text"] == text, "final response text != concatenated deltas"
    assert final["usage"]["output_tokens"] == deltas, (
        f"final usage.output_tokens {final['usage']['output_tokens']} != number of deltas {deltas}"
    )
    if expect_tokens is not None:
        assert deltas == expect_tokens, f"{deltas} output_text deltas, expected {expect_tokens}"
    return ResponsesStreamSummary(events=datas, text=text, deltas=deltas, final=final)


# --------------------------------------------------------------------------- metrics


def parse_metrics(text: str) -> dict[str, float]:
    """Sum Prometheus samples by metric name (labels dropped)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not m:
            continue
        try:
            v = float(m.group(3))
        except ValueError:
            continue
        out[m.group(1)] = out.get(m.group(1), 0.0) + v
    return out
