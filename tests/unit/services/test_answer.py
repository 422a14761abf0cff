"""Answers as pieces and as wholes (services/answer.py): what a stream folds into, and what
a cached answer replays, streamed or not."""

from __future__ import annotations

from completions_app.services.answer import AnswerBuilder, choices_of, delta_of, pieces_of
from completions_app.services.response_cache import CachedAnswer
from providers_app.adapters.types import Choice, StreamChunk, Thinking, ThinkingDelta, ToolCall, ToolCallDelta, Usage


def _fold(chunks: list[StreamChunk]) -> tuple[AnswerBuilder, list]:
    builder = AnswerBuilder()
    sent = [d for c in chunks if (d := builder.add(c)) is not None]
    return builder, sent


def test_plain_text_stays_plain_strings():
    builder, sent = _fold([StreamChunk(text="hel"), StreamChunk(text=""), StreamChunk(text="lo")])
    assert [d.text for d in sent] == ["hel", "lo"]
    assert builder.pieces == ["hel", "lo"]  # the cache keeps plain text as plain strings
    assert builder.choices("stop") == [Choice(text="hello", finish_reason="stop")]


def test_tool_call_fragments_fold_into_whole_calls_in_order():
    chunks = [
        StreamChunk(tool_calls=(ToolCallDelta(0, "call_a", "lookup", ""),)),
        StreamChunk(tool_calls=(ToolCallDelta(1, "call_b", "fetch", '{"u"'),)),
        StreamChunk(tool_calls=(ToolCallDelta(0, arguments='{"q": '),)),
        StreamChunk(tool_calls=(ToolCallDelta(0, arguments='"x"}'),)),
        StreamChunk(tool_calls=(ToolCallDelta(1, arguments=": 1}"),)),
    ]
    builder, sent = _fold(chunks)
    assert len(sent) == 5
    [choice] = builder.choices("tool_calls")
    assert choice.finish_reason == "tool_calls"
    assert choice.tool_calls == (
        ToolCall("call_a", "lookup", '{"q": "x"}'),
        ToolCall("call_b", "fetch", '{"u": 1}'),
    )
    assert "lookup" in builder.all_text() and '"x"}' in builder.all_text()


def test_n_choices_keep_their_own_text_and_finish():
    chunks = [
        StreamChunk(text="a1"),
        StreamChunk(text="b1", index=1),
        StreamChunk(text="a2"),
        StreamChunk(index=1, finish_reason="length"),
    ]
    builder, _ = _fold(chunks)
    first, second = builder.choices("stop")
    assert (first.index, first.text, first.finish_reason) == (0, "a1a2", "stop")
    assert (second.index, second.text, second.finish_reason) == (1, "b1", "length")


def test_refusal_and_logprobs_are_joined():
    chunks = [
        StreamChunk(refusal="I can"),
        StreamChunk(refusal="not."),
        StreamChunk(text="x", logprobs={"content": [{"token": "x", "logprob": -0.1}]}),
        StreamChunk(text="y", logprobs={"content": [{"token": "y", "logprob": -0.2}]}),
    ]
    builder, _ = _fold(chunks)
    [choice] = builder.choices("stop")
    assert choice.refusal == "I cannot."
    assert choice.text == "xy"
    assert [t["token"] for t in choice.logprobs["content"]] == ["x", "y"]


def test_a_streamed_answer_replays_the_same_pieces_and_the_same_whole():
    chunks = [
        StreamChunk(text="Let me look. "),
        StreamChunk(tool_calls=(ToolCallDelta(0, "call_a", "lookup", '{"q":'),)),
        StreamChunk(tool_calls=(ToolCallDelta(0, arguments=' "x"}'),)),
    ]
    builder, sent = _fold(chunks)
    whole = builder.choices("tool_calls")
    cached = CachedAnswer.loads(
        CachedAnswer(builder.text, builder.pieces, "tool_calls", Usage(1, 2), "m", "p", "0.1").dumps()
    )
    assert [delta_of(p) for p in cached.chunks] == sent  # a streamed hit sends what the miss sent
    assert choices_of(cached.chunks, "tool_calls") == whole  # a non-streamed hit answers the whole


def test_a_whole_answer_becomes_pieces_that_rebuild_it():
    choices = [
        Choice(text="", finish_reason="tool_calls", tool_calls=(ToolCall("c1", "f", '{"a": 1}'),)),
        Choice(text="other", finish_reason="stop", index=1),
    ]
    assert choices_of(pieces_of(choices), "tool_calls") == choices
    assert pieces_of([Choice(text="plain", finish_reason="stop")]) == ["plain"]


def test_thinking_pieces_fold_into_whole_blocks_and_replay_from_the_cache():
    chunks = [
        StreamChunk(thinking=ThinkingDelta(0, text="Let me ")),
        StreamChunk(thinking=ThinkingDelta(0, text="think.")),
        StreamChunk(thinking=ThinkingDelta(0, signature="sig_a")),
        StreamChunk(thinking=ThinkingDelta(1, redacted="opaque")),
        StreamChunk(text="Answer."),
    ]
    builder, sent = _fold(chunks)
    whole = builder.choices("stop")
    assert whole[0].thinking == (Thinking("Let me think.", "sig_a"), Thinking(redacted="opaque"))
    assert whole[0].text == "Answer." and "think." in builder.all_text()
    cached = CachedAnswer.loads(CachedAnswer(builder.text, builder.pieces, "stop", Usage(1, 2), "m", "p", "0").dumps())
    assert [delta_of(p) for p in cached.chunks] == sent
    assert choices_of(cached.chunks, "stop") == whole
    assert choices_of(pieces_of(whole), "stop") == whole  # a non-streamed answer's pieces too
