"""Operations endpoints, models lists, and HTTP/1.1 connection behaviour."""

from __future__ import annotations

import http.client

import pytest
from openai.types import Model

import helpers
from helpers import CHAT_MODEL, PREFIXES, chat_body, fast, post

METRIC_NAMES = (
    "llmload_mock_requests_total",
    "llmload_mock_in_flight",
    "llmload_mock_tokens_emitted_total",
    "llmload_mock_pacing_lag_seconds_bucket",
)


def test_health(url):
    r = helpers.get(url, "/health")
    assert r.status == 200, r.describe()


def test_metrics_names(url):
    post(url, "/v1/chat/completions", chat_body(), fast(2))  # make sure something was counted
    r = helpers.get(url, "/metrics")
    assert r.status == 200, r.describe()
    assert (r.header("content-type") or "").startswith("text/plain"), r.header("content-type")
    text = r.body.decode()
    for name in METRIC_NAMES:
        assert name in text, f"{name} missing from /metrics"
    values = helpers.parse_metrics(text)
    for name in METRIC_NAMES:
        assert name in values, f"{name} has no sample line"


def test_metrics_count_requests_and_tokens(url):
    before = helpers.parse_metrics(helpers.get(url, "/metrics").body.decode())
    post(url, "/v1/chat/completions", chat_body(), fast(7))
    r = post(url, "/v1/chat/completions", chat_body(n_stream=True), fast(5))
    assert r.complete
    after = helpers.parse_metrics(helpers.get(url, "/metrics").body.decode())
    assert after["llmload_mock_requests_total"] >= before.get("llmload_mock_requests_total", 0) + 2
    assert after["llmload_mock_tokens_emitted_total"] >= before.get("llmload_mock_tokens_emitted_total", 0) + 12
    assert after["llmload_mock_in_flight"] >= 0


@pytest.mark.parametrize("prefix", PREFIXES)
def test_openai_models_list(url, prefix):
    c = helpers.openai_client(url, prefix)
    page = c.models.list()
    ids = []
    for m in page.data:
        v = Model.model_validate(m.to_dict())
        assert v.object == "model"
        ids.append(v.id)
    for m in helpers.DEFAULT_MODELS:
        assert m in ids, f"{m} missing from {ids}"


def test_openai_models_raw_shape(url):
    r = helpers.get(url, "/v1/models")
    assert r.status == 200, r.describe()
    d = r.json()
    assert d["object"] == "list"
    for item in d["data"]:
        Model.model_validate(item)
        assert isinstance(item["created"], int)
        assert isinstance(item["owned_by"], str)


@pytest.mark.parametrize("model", helpers.DEFAULT_MODELS)
def test_openai_models_retrieve(oai, model):
    v = Model.model_validate(oai.models.retrieve(model).to_dict())
    assert v.id == model


def test_keep_alive_across_stream_and_non_stream(url):
    """The SDKs pool connections: a chunked stream must leave the connection reusable."""
    conn = helpers.connect(url)
    try:
        a = post(url, "/v1/chat/completions", chat_body(), fast(2), conn=conn)
        assert a.status == 200
        b = post(url, "/v1/chat/completions", chat_body(n_stream=True, stream_options={"include_usage": True}), fast(3), conn=conn)
        helpers.check_openai_text_stream(b, kind="chat", include_usage=True, expect_tokens=3)
        c = post(url, "/v1/messages", helpers.messages_body(stream=True), {**helpers.ANTHROPIC_RAW_HEADERS, **fast(2)}, conn=conn)
        helpers.check_anthropic_stream(c, expect_tokens=2)
        d = helpers.get(url, "/health", conn=conn)
        assert d.status == 200
        e = post(url, "/v1/responses", {"model": CHAT_MODEL, "input": "x", "stream": True}, fast(2), conn=conn)
        helpers.check_responses_stream(e, expect_tokens=2)
        f = post(url, "/v1/chat/completions", chat_body(), fast(2), conn=conn)
        assert f.status == 200
    except (http.client.RemoteDisconnected, ConnectionError) as ex:
        pytest.fail(f"the mock closed a keep-alive connection between requests: {ex!r}")
    finally:
        conn.close()


def test_concurrent_streams(url):
    """Several streams in flight at once on a 1-core mock all complete correctly."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i):
        r = post(url, "/v1/chat/completions", chat_body(n_stream=True, stream_options={"include_usage": True}),
                 {"x-mock-ttft-ms": "20", "x-mock-itl-ms": "5", "x-mock-output-tokens": str(5 + i)})
        return helpers.check_openai_text_stream(r, kind="chat", include_usage=True).content_chunks

    with ThreadPoolExecutor(8) as ex:
        counts = list(ex.map(one, range(8)))
    assert counts == [5 + i for i in range(8)]


def test_sdk_default_timing_headers_not_required(url):
    """Without timing override headers the mock still answers (with its default profile)."""
    import openai

    c = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0, timeout=30)
    r = c.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    assert r.usage.completion_tokens >= 1
    assert r.choices[0].finish_reason in ("stop", "length")


def test_sigterm_stops_the_mock(mock_factory):
    import signal
    import subprocess

    m = mock_factory()
    assert helpers.get(m.url, "/health").status == 200
    m.expect_exit = True
    m.proc.send_signal(signal.SIGTERM)
    try:
        m.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail("the mock did not exit within 5 s of SIGTERM")
    assert m.proc.returncode is not None
