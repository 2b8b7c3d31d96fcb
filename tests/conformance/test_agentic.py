"""Reasoning and tool calls, as the official SDKs accumulate them: OpenAI chat
`reasoning_content` deltas and `tool_calls` deltas into `get_final_completion()`, Anthropic
thinking and tool_use blocks into `get_final_message()`; every event re-validated."""

from __future__ import annotations

import json

from anthropic.types import Message, ThinkingBlock, ToolUseBlock
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import helpers
from helpers import CHAT_MODEL, CLAUDE_MODEL, fast

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city.",
        "parameters": {
            "type": "object",
            "required": ["city", "unit", "days"],
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1},
            },
        },
    },
}
LOOKUP = {
    "name": "lookup",
    "description": "Look a term up.",
    "input_schema": {"type": "object", "required": ["q"], "properties": {"q": {"type": "string"}}},
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def test_openai_stream_tool_calls_accumulate(oai):
    with oai.chat.completions.stream(
        model=CHAT_MODEL, messages=ASK, tools=[WEATHER], extra_headers={"x-mock-tool-calls": "2"}
    ) as stream:
        for event in stream:
            if event.type == "chunk":
                ChatCompletionChunk.model_validate(event.chunk.to_dict())
        final = stream.get_final_completion()
    ChatCompletion.model_validate(final.to_dict())
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert len(calls) == 2 and calls[0].id != calls[1].id
    for c in calls:
        assert c.id.startswith("call_") and c.type == "function"
        assert c.function.name == "get_weather"
        assert json.loads(c.function.arguments) == {"city": "mock", "unit": "celsius", "days": 1}


def test_openai_tool_result_gets_an_answer(oai):
    first = oai.chat.completions.create(model=CHAT_MODEL, messages=ASK, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    messages = ASK + [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = oai.chat.completions.create(
        model=CHAT_MODEL, messages=messages, tools=[WEATHER], extra_headers=fast(4)
    )
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.tool_calls is None
    assert second.choices[0].message.content


def test_openai_reasoning_stream_and_usage(oai):
    headers = {**fast(3), "x-mock-reasoning-tokens": "5"}
    reasoning, content = [], []
    stream = oai.chat.completions.create(
        model=CHAT_MODEL, messages=ASK, stream=True, stream_options={"include_usage": True}, extra_headers=headers
    )
    usage = None
    for chunk in stream:
        ChatCompletionChunk.model_validate(chunk.to_dict())
        if chunk.usage is not None:
            usage = chunk.usage
        for ch in chunk.choices:
            r = getattr(ch.delta, "reasoning_content", None)
            if r:
                assert not content, "reasoning comes before the answer"
                reasoning.append(r)
            if ch.delta.content:
                content.append(ch.delta.content)
    assert len(reasoning) == 5 and len(content) == 3
    assert usage.completion_tokens == 8
    assert usage.completion_tokens_details.reasoning_tokens == 5
    assert isinstance(usage.completion_tokens_details.reasoning_tokens, int)


def test_openai_reasoning_eats_the_budget(oai):
    c = oai.chat.completions.create(
        model=CHAT_MODEL, messages=ASK, max_tokens=6, extra_headers={"x-mock-reasoning-tokens": "100"}
    )
    ChatCompletion.model_validate(c.to_dict())
    assert c.choices[0].finish_reason == "length"
    assert c.choices[0].message.content is None
    assert c.choices[0].message.model_extra["reasoning_content"]
    assert c.usage.completion_tokens == 6 and c.usage.completion_tokens_details.reasoning_tokens == 6


def test_anthropic_stream_thinking_and_tool_use(anth):
    with anth.messages.stream(
        model=CLAUDE_MODEL,
        max_tokens=4000,
        messages=ASK,
        tools=[LOOKUP],
        thinking={"type": "enabled", "budget_tokens": 2048},
        extra_headers={"x-mock-reasoning-tokens": "4"},
    ) as stream:
        for event in stream:
            if event.type in helpers._anthropic_event_types():
                helpers.validate_anthropic_event(event.to_dict())
        final = stream.get_final_message()
    Message.model_validate(final.to_dict())
    assert final.stop_reason == "tool_use"
    thinking, tool = final.content
    assert isinstance(thinking, ThinkingBlock) and len(thinking.thinking.split()) == 4 and thinking.signature
    assert isinstance(tool, ToolUseBlock)
    assert tool.id.startswith("toolu_") and tool.name == "lookup" and tool.input == {"q": "mock"}


def test_anthropic_thinking_non_stream(anth):
    m = anth.messages.create(
        model=CLAUDE_MODEL,
        max_tokens=4000,
        messages=ASK,
        thinking={"type": "enabled", "budget_tokens": 2048},
        extra_headers={**fast(2), "x-mock-reasoning-tokens": "3"},
    )
    Message.model_validate(m.to_dict())
    assert [b.type for b in m.content] == ["thinking", "text"]
    assert m.content[0].signature and len(m.content[1].text.split()) == 2
    assert m.usage.output_tokens == 5 and m.stop_reason == "end_turn"


def test_anthropic_tool_result_gets_an_answer(anth):
    first = anth.messages.create(model=CLAUDE_MODEL, max_tokens=100, messages=ASK, tools=[LOOKUP])
    use = first.content[0]
    assert first.stop_reason == "tool_use" and use.type == "tool_use"
    messages = ASK + [
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "42"}]},
    ]
    second = anth.messages.create(
        model=CLAUDE_MODEL, max_tokens=100, messages=messages, tools=[LOOKUP], extra_headers=fast(3)
    )
    assert second.stop_reason == "end_turn" and [b.type for b in second.content] == ["text"]


def test_responses_reasoning_item_and_events(oai):
    from openai.types import responses as r

    typed = {
        "response.reasoning_summary_part.added": r.ResponseReasoningSummaryPartAddedEvent,
        "response.reasoning_summary_text.delta": r.ResponseReasoningSummaryTextDeltaEvent,
        "response.reasoning_summary_text.done": r.ResponseReasoningSummaryTextDoneEvent,
        "response.reasoning_summary_part.done": r.ResponseReasoningSummaryPartDoneEvent,
    }
    seen = set()
    with oai.responses.stream(
        model=CHAT_MODEL, input="hi", extra_headers={**fast(2), "x-mock-reasoning-tokens": "3"}
    ) as stream:
        for event in stream:
            d = event.to_dict(warnings=False)  # the parsed final response warns on re-serialising
            cls = typed.get(d["type"]) or helpers._responses_event_types().get(d["type"])
            assert cls is not None, d["type"]
            cls.model_validate(d)
            seen.add(d["type"])
        final = stream.get_final_response()
    assert set(typed) <= seen
    reasoning, message = final.output
    assert isinstance(reasoning, r.ResponseReasoningItem)
    assert len(reasoning.summary[0].text.split()) == 3
    assert message.type == "message" and len(final.output_text.split()) == 2
    assert final.usage.output_tokens == 5 and final.usage.output_tokens_details.reasoning_tokens == 3


def test_cached_tokens_are_typed(mock_factory):
    m = mock_factory("--prefix-cache", "1000", "--prefix-cache-block", "4")
    oai = helpers.openai_client(m.url)
    anth = helpers.anthropic_client(m.url)
    system = "You are a careful assistant. " * 20
    msgs = [{"role": "system", "content": system}, {"role": "user", "content": "hi"}]
    oai.chat.completions.create(model=CHAT_MODEL, messages=msgs, extra_headers=fast(1))
    c = oai.chat.completions.create(model=CHAT_MODEL, messages=msgs, extra_headers=fast(1))
    assert isinstance(c.usage.prompt_tokens_details.cached_tokens, int)
    assert 0 < c.usage.prompt_tokens_details.cached_tokens <= c.usage.prompt_tokens
    sys_blocks = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
    first = anth.messages.create(
        model=CLAUDE_MODEL, max_tokens=10, system=sys_blocks, messages=ASK, extra_headers=fast(1)
    )
    second = anth.messages.create(
        model=CLAUDE_MODEL, max_tokens=10, system=sys_blocks, messages=ASK, extra_headers=fast(1)
    )
    assert first.usage.cache_creation_input_tokens > 0 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.input_tokens == first.usage.input_tokens


def test_responses_function_calls(oai):
    from openai.types import responses as r

    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER["function"]["parameters"]}
    with oai.responses.stream(model=CHAT_MODEL, input="weather?", tools=[tool]) as stream:
        for event in stream:
            d = event.to_dict(warnings=False)
            if d["type"].startswith("response.function_call_arguments"):
                cls = (
                    r.ResponseFunctionCallArgumentsDeltaEvent
                    if d["type"].endswith("delta")
                    else r.ResponseFunctionCallArgumentsDoneEvent
                )
                cls.model_validate(d)
        final = stream.get_final_response()
    (call,) = final.output
    assert isinstance(call, r.ResponseFunctionToolCall)
    assert call.name == "get_weather" and call.call_id.startswith("call_")
    assert json.loads(call.arguments) == {"city": "mock", "unit": "celsius", "days": 1}
    follow = oai.responses.create(
        model=CHAT_MODEL,
        tools=[tool],
        input=[
            {"role": "user", "content": "weather?"},
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
        extra_headers=fast(2),
    )
    assert follow.output[0].type == "message" and len(follow.output_text.split()) == 2
