"""OpenAI legacy `POST {prefix}/completions`, streaming and not."""

from __future__ import annotations

import openai
import pytest
from openai.types import Completion

import helpers
from helpers import CHAT_MODEL, PREFIXES, fast, post

PROMPT = "Once upon a time"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_non_stream(url, prefix):
    c = helpers.openai_client(url, prefix)
    r = c.completions.create(model=CHAT_MODEL, prompt=PROMPT, max_tokens=64, extra_headers=fast(5))
    v = Completion.model_validate(r.to_dict())
    assert v.object == "text_completion"
    assert v.model == CHAT_MODEL
    assert len(v.choices) == 1
    ch = v.choices[0]
    assert ch.index == 0
    assert isinstance(ch.text, str) and ch.text
    assert ch.finish_reason == "stop"
    assert v.usage is not None
    assert v.usage.completion_tokens == 5
    assert v.usage.prompt_tokens > 0
    assert v.usage.total_tokens == v.usage.prompt_tokens + v.usage.completion_tokens


def test_cap_gives_length(oai):
    r = oai.completions.create(model=CHAT_MODEL, prompt=PROMPT, max_tokens=3, extra_headers=fast(12))
    v = Completion.model_validate(r.to_dict())
    assert v.choices[0].finish_reason == "length"
    assert v.usage.completion_tokens == 3


def test_raw_shape(url):
    r = post(url, "/v1/completions", {"model": CHAT_MODEL, "prompt": PROMPT, "max_tokens": 64}, fast(4))
    assert r.status == 200, r.describe()
    assert r.header("x-request-id"), "OpenAI routes must carry x-request-id"
    d = r.json()
    Completion.model_validate(d)
    assert d["object"] == "text_completion"
    assert "logprobs" in d["choices"][0]
    assert d["usage"]["completion_tokens"] == 4


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_raw(url, prefix, include_usage):
    body = {"model": CHAT_MODEL, "prompt": PROMPT, "max_tokens": 64, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    r = post(url, f"{prefix}/completions", body, fast(6))
    s = helpers.check_openai_text_stream(
        r, kind="completion", include_usage=include_usage, expect_tokens=6, expect_finish="stop"
    )
    assert s.text


def test_stream_raw_cap(url):
    body = {"model": CHAT_MODEL, "prompt": PROMPT, "max_tokens": 2, "stream": True, "stream_options": {"include_usage": True}}
    r = post(url, "/v1/completions", body, fast(9))
    s = helpers.check_openai_text_stream(r, kind="completion", include_usage=True, expect_tokens=2, expect_finish="length")
    assert s.usage["completion_tokens"] == 2


def test_stream_sdk(oai):
    stream = oai.completions.create(
        model=CHAT_MODEL,
        prompt=PROMPT,
        max_tokens=64,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=fast(4),
    )
    chunks = list(stream)
    for c in chunks:
        helpers.validate_completion_chunk(c.to_dict())
    texts = [c.choices[0].text for c in chunks if c.choices and c.choices[0].text]
    assert len(texts) == 4
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4


def test_unknown_model(oai):
    with pytest.raises(openai.NotFoundError) as ei:
        oai.completions.create(model="nope", prompt=PROMPT, max_tokens=4, extra_headers=fast(2))
    assert ei.value.code == "model_not_found"


def test_prompt_list_is_accepted(url):
    r = post(url, "/v1/completions", {"model": CHAT_MODEL, "prompt": [PROMPT], "max_tokens": 16}, fast(3))
    assert r.status == 200, r.describe()
    Completion.model_validate(r.json())
