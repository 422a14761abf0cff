"""Service results -> proto messages: CompletionResult, StreamDelta, provider status rows.

gRPC has no `n`: the answer is choice 0 (CompletionResult.text / tool_calls / refusal /
finish_reason), and a stream carries choice 0's pieces.
"""

from __future__ import annotations

from aiproxy.v1 import proxy_pb2 as pb
from completions_app.services.cost import cost_format
from completions_app.services.types import CompletionResult, StreamDelta
from providers_app.adapters.types import ToolCall, ToolCallDelta, Usage


def usage_pb(usage: Usage) -> pb.Usage:
    return pb.Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
    )


def tool_call_pb(call: ToolCall) -> pb.ToolCall:
    return pb.ToolCall(id=call.id, name=call.name, arguments_json=call.arguments)


def complete_response(result: CompletionResult) -> pb.CompleteResponse:
    response = pb.CompleteResponse(
        text=result.text,
        model=result.model,
        provider=result.provider,
        usage=usage_pb(result.usage),
        cost_usd=cost_format(result.cost_usd),
        cached=result.cached,
        latency_ms=result.latency_ms,
        request_id=result.request_id,
        finish_reason=result.finish_reason or "",
        served_model=result.served_model,
    )
    answer = result.choices[0]
    if answer.tool_calls:
        response.tool_calls.extend(tool_call_pb(c) for c in answer.tool_calls)
    if answer.refusal:
        response.refusal = answer.refusal
    return response


def tool_call_delta_pb(delta: ToolCallDelta) -> pb.ToolCallDelta:
    return pb.ToolCallDelta(
        index=delta.index, id=delta.id or "", name=delta.name or "", arguments_fragment=delta.arguments
    )


def stream_delta(event: StreamDelta) -> pb.StreamCompleteResponse | None:
    """The message for a piece of choice 0; None when it carries nothing to send."""
    if event.index:
        return None  # another choice's piece: gRPC asks for one (never sent without `n`)
    if not (event.tool_calls or event.refusal):
        return pb.StreamCompleteResponse(delta=event.text) if event.text else None
    message = pb.StreamCompleteResponse(delta=event.text, refusal=event.refusal or "")
    message.tool_calls.extend(tool_call_delta_pb(d) for d in event.tool_calls)
    return message


def stream_final(result: CompletionResult) -> pb.StreamCompleteResponse:
    return pb.StreamCompleteResponse(
        done=True,
        usage=usage_pb(result.usage),
        cost_usd=cost_format(result.cost_usd),
        cached=result.cached,
        finish_reason=result.finish_reason or "",
        model=result.model,
        served_model=result.served_model,
        provider=result.provider,
        latency_ms=result.latency_ms,
        request_id=result.request_id,
    )


def limit_metadata(headers: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """A limited key's x-ratelimit-* as metadata (REST's headers). In the trailers: the initial
    metadata has gone out before the call was admitted (the interceptor sends x-request-id first)."""
    return tuple((name.lower(), value) for name, value in headers.items())


def provider_status_pb(row: dict) -> pb.ProviderStatus:
    message = pb.ProviderStatus(
        name=row["name"],
        kind=row["kind"],
        state=row["state"],
        failures=row["failures"],
        enabled=row["enabled"],
        keys_enabled=row["keys_enabled"],
        keys_cooling=row["keys_cooling"],
    )
    if row.get("healthy") is not None:  # unset = never probed
        message.healthy = row["healthy"]
    return message
