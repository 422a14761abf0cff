"""An answer as pieces and as a whole: folding streamed pieces into choices, and the pieces a
cached answer replays.

A replayable piece is kept compact for the cache: a `str` is text of choice 0 (the common
case, as cheap as before tools existed); anything richer is a dict with short keys
(i: choice index, t: text, tc: tool-call deltas as [index, id, name, arguments],
r: refusal, lp: logprobs, f: finish reason of a choice other than 0, th: a thinking piece as
[block, text, signature, redacted data]).
"""

from __future__ import annotations

from typing import Any

from providers_app.adapters.types import Choice, StreamChunk, Thinking, ThinkingDelta, ToolCall, ToolCallDelta

from .types import StreamDelta

Piece = str | dict[str, Any]


class _Call:
    __slots__ = ("arguments", "id", "name")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.arguments: list[str] = []


class _Building:
    __slots__ = ("calls", "finish_reason", "logprobs", "refusal", "text", "thinking")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, _Call] = {}
        self.refusal: list[str] = []
        self.logprobs: list[Any] = []
        self.finish_reason: str | None = None
        self.thinking: dict[int, list[Any]] = {}  # block -> [text pieces, signature, redacted data]


class AnswerBuilder:
    """Folds a stream's pieces into whole choices, and keeps them for a replay."""

    def __init__(self) -> None:
        self.pieces: list[Piece] = []
        self._choices: dict[int, _Building] = {}
        self._text0: list[str] = []  # choice 0's text, the fast path

    def add(self, chunk: StreamChunk) -> StreamDelta | None:
        """The delta to send for `chunk`, or None when it carries nothing to send."""
        if (
            chunk.index == 0
            and not chunk.tool_calls
            and chunk.refusal is None
            and chunk.logprobs is None
            and chunk.thinking is None
        ):
            if not chunk.text:
                return None
            self._text0.append(chunk.text)
            self.pieces.append(chunk.text)
            return StreamDelta(chunk.text)
        finish = chunk.finish_reason if chunk.index else None
        if not (
            chunk.text
            or chunk.tool_calls
            or chunk.refusal
            or chunk.logprobs is not None
            or finish
            or chunk.thinking is not None
        ):
            return None
        delta = StreamDelta(
            chunk.text,
            index=chunk.index,
            tool_calls=chunk.tool_calls,
            refusal=chunk.refusal,
            logprobs=chunk.logprobs,
            finish_reason=finish,
            thinking=chunk.thinking,
        )
        self._fold(delta)
        self.pieces.append(piece_of(delta))
        return delta

    def _fold(self, delta: StreamDelta) -> None:
        b = self._choices.get(delta.index)
        if b is None:
            b = self._choices[delta.index] = _Building()
        if delta.text:
            (self._text0 if delta.index == 0 else b.text).append(delta.text)
        for d in delta.tool_calls:
            call = b.calls.get(d.index)
            if call is None:
                call = b.calls[d.index] = _Call()
            call.id = call.id or (d.id or "")
            call.name = call.name or (d.name or "")
            if d.arguments:
                call.arguments.append(d.arguments)
        if delta.refusal:
            b.refusal.append(delta.refusal)
        if delta.logprobs is not None:
            b.logprobs.append(delta.logprobs)
        if delta.finish_reason:
            b.finish_reason = delta.finish_reason
        if (t := delta.thinking) is not None:
            block = b.thinking.setdefault(t.block, [[], "", None])
            if t.text:
                block[0].append(t.text)
            if t.signature:
                block[1] += t.signature
            if t.redacted is not None:
                block[2] = t.redacted

    @property
    def text(self) -> str:
        """Choice 0's text so far."""
        return "".join(self._text0)

    def all_text(self) -> str:
        """Every choice's text and tool-call arguments so far: what an estimate counts."""
        parts = [self.text]
        for b in self._choices.values():
            parts.extend(b.text)
            for texts, _signature, _redacted in b.thinking.values():
                parts.extend(texts)  # thinking is output, billed as such
            parts.extend(b.refusal)
            for call in b.calls.values():
                parts.append(call.name)
                parts.extend(call.arguments)
        return "".join(parts)

    def choices(self, finish_reason: str | None) -> list[Choice]:
        """The whole answer; `finish_reason` is choice 0's (from the stream's last chunk)."""
        first = Choice(text=self.text, finish_reason=finish_reason)
        if not self._choices:
            return [first]
        out = []
        for index in sorted({0, *self._choices}):
            b = self._choices.get(index)
            choice = first if index == 0 else Choice(index=index, text="".join(b.text) if b else "")
            if b is not None:
                choice.tool_calls = tuple(
                    ToolCall(id=c.id, name=c.name, arguments="".join(c.arguments)) for _, c in sorted(b.calls.items())
                )
                choice.refusal = "".join(b.refusal) if b.refusal else None
                choice.logprobs = _joined_logprobs(b.logprobs)
                choice.thinking = tuple(
                    Thinking(redacted=r) if r is not None else Thinking("".join(texts), signature)
                    for _, (texts, signature, r) in sorted(b.thinking.items())
                )
                if index:
                    choice.finish_reason = b.finish_reason
            out.append(choice)
        return out


def _joined_logprobs(parts: list[Any]) -> Any:
    """Streamed logprobs objects ({"content": [...], "refusal": [...]}) as one."""
    if not parts:
        return None
    joined: dict[str, list[Any]] = {}
    for part in parts:
        if isinstance(part, dict):
            for key, items in part.items():
                if isinstance(items, list):
                    joined.setdefault(key, []).extend(items)
    return joined


def piece_of(delta: StreamDelta) -> Piece:
    if (
        delta.index == 0
        and not delta.tool_calls
        and delta.refusal is None
        and delta.logprobs is None
        and delta.thinking is None
    ):
        return delta.text
    out: dict[str, Any] = {"i": delta.index}
    if delta.text:
        out["t"] = delta.text
    if delta.tool_calls:
        out["tc"] = [[d.index, d.id, d.name, d.arguments] for d in delta.tool_calls]
    if delta.refusal is not None:
        out["r"] = delta.refusal
    if delta.logprobs is not None:
        out["lp"] = delta.logprobs
    if delta.finish_reason:
        out["f"] = delta.finish_reason
    if (t := delta.thinking) is not None:
        out["th"] = [t.block, t.text, t.signature, t.redacted]
    return out


def delta_of(piece: Piece) -> StreamDelta:
    if type(piece) is str:
        return StreamDelta(piece)
    return StreamDelta(
        piece.get("t", ""),
        index=piece["i"],
        tool_calls=tuple(ToolCallDelta(index=i, id=c, name=n, arguments=a) for i, c, n, a in piece.get("tc", ())),
        refusal=piece.get("r"),
        logprobs=piece.get("lp"),
        finish_reason=piece.get("f"),
        thinking=ThinkingDelta(*piece["th"]) if "th" in piece else None,
    )


def pieces_of(choices: list[Choice]) -> list[Piece]:
    """A whole (non-streamed) answer as the pieces a streamed replay sends: each choice's
    text, then its tool calls whole, then what ends it."""
    out: list[Piece] = []
    for c in choices:
        out.extend(
            piece_of(StreamDelta("", index=c.index, thinking=ThinkingDelta(k, t.text, t.signature, t.redacted)))
            for k, t in enumerate(c.thinking)
        )
        rich = c.index != 0 or c.tool_calls or c.refusal is not None or c.logprobs is not None
        if not rich:
            if c.text:
                out.append(c.text)
            continue
        delta = StreamDelta(
            c.text,
            index=c.index,
            tool_calls=tuple(
                ToolCallDelta(index=i, id=t.id, name=t.name, arguments=t.arguments) for i, t in enumerate(c.tool_calls)
            ),
            refusal=c.refusal,
            logprobs=c.logprobs,
            finish_reason=c.finish_reason if c.index else None,
        )
        out.append(piece_of(delta))
    return out


def choices_of(pieces: list[Piece], finish_reason: str | None) -> list[Choice]:
    """The whole answer from replayable pieces (a non-streamed hit of a streamed answer)."""
    builder = AnswerBuilder()
    for piece in pieces:
        delta = delta_of(piece)
        if type(piece) is str:
            builder._text0.append(piece)
        else:
            builder._fold(delta)
    return builder.choices(finish_reason)
