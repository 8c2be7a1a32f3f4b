"""A fake LLM provider for tests: OpenAI chat completions and responses, Anthropic messages, on 127.0.0.1.

The real ``openai`` and ``anthropic`` SDKs talk to it unchanged (point their ``base_url`` at it). Replies are
scripted in order (:meth:`FakeLLM.reply`, :meth:`FakeLLM.fail`, :meth:`FakeLLM.cut_stream`); an empty script answers
:attr:`FakeLLM.default`. Every request is recorded (:attr:`FakeLLM.requests`). Standard library only.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Tuple, Type, Union

__all__ = ["Failure", "FakeLLM", "FakeRequest", "Reply", "ToolCall", "Usage"]

_ids = itertools.count(1)
_CREATED = 1_700_000_000


def _next_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):06d}"


@dataclass(frozen=True)
class Usage:
    """Token counts of one reply, in the provider-neutral sense (each count is disjoint from the others).

    Attributes:
        input: prompt tokens read at the full price (not from or into the cache).
        output: generated tokens, reasoning included.
        cached_input: prompt tokens read from the provider's cache.
        cache_write: prompt tokens written to the cache (Anthropic ``cache_creation_input_tokens``).
        reasoning: the part of ``output`` spent on reasoning.

    Each provider's wire format is derived from these: OpenAI counts cached tokens inside ``prompt_tokens`` /
    ``input_tokens`` (it has no cache writes: they are counted as plain input); Anthropic's ``input_tokens``
    excludes cache reads and writes.
    """

    input: int = 12
    output: int = 5
    cached_input: int = 0
    cache_write: int = 0
    reasoning: int = 0

    def openai_chat(self) -> Dict[str, Any]:
        """The ``usage`` object of a chat completion."""
        prompt = self.input + self.cached_input + self.cache_write
        return {
            "prompt_tokens": prompt,
            "completion_tokens": self.output,
            "total_tokens": prompt + self.output,
            "prompt_tokens_details": {"cached_tokens": self.cached_input, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning, "audio_tokens": 0},
        }

    def openai_responses(self) -> Dict[str, Any]:
        """The ``usage`` object of a response."""
        prompt = self.input + self.cached_input + self.cache_write
        return {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": self.cached_input},
            "output_tokens": self.output,
            "output_tokens_details": {"reasoning_tokens": self.reasoning},
            "total_tokens": prompt + self.output,
        }

    def anthropic(self, *, output: Optional[int] = None) -> Dict[str, Any]:
        """The ``usage`` object of a message (``output`` overrides the output count, for ``message_start``)."""
        return {
            "input_tokens": self.input,
            "output_tokens": self.output if output is None else output,
            "cache_creation_input_tokens": self.cache_write,
            "cache_read_input_tokens": self.cached_input,
        }


@dataclass(frozen=True)
class ToolCall:
    """A function/tool call the model asks for: ``name`` and its JSON ``arguments``."""

    name: str
    arguments: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """A successful model answer: text, or tool calls (then ``text`` is usually empty), and its usage."""

    text: str = "Hello from the fake model."
    usage: Usage = Usage()
    tool_calls: Tuple[ToolCall, ...] = ()
    cut_after: Optional[int] = None
    """When streamed: close the connection after this many events (no usage, no ``[DONE]``)."""

    def pieces(self) -> List[str]:
        """The text split into streamed deltas (words with their trailing space)."""
        words = self.text.split(" ")
        return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)] if self.text else []


@dataclass(frozen=True)
class Failure:
    """A scripted error answer: ``status``, an optional ``Retry-After`` (seconds) and the provider's error type."""

    status: int = 500
    retry_after: Optional[float] = None
    message: str = "scripted failure"


@dataclass(frozen=True)
class FakeRequest:
    """A request the fake provider received: ``api`` is ``chat``, ``responses``, ``messages`` or ``unknown``."""

    method: str
    path: str
    api: str
    body: Dict[str, Any]
    headers: Dict[str, str]
    answered: int


Scripted = Union[Reply, Failure]


class FakeLLM:
    """A fake OpenAI/Anthropic HTTP provider on an ephemeral 127.0.0.1 port, as a context manager.

    ::

        with FakeLLM() as fake:
            fake.reply("Hi!", usage=Usage(input=10, output=2, cached_input=4))
            client = openai.OpenAI(base_url=fake.openai_base_url, api_key="test")
            ...
            assert fake.request_count("chat") == 1

    Routes (any prefix, so Azure deployment paths work too): ``POST .../chat/completions``, ``POST .../responses``,
    ``POST .../messages``. Streaming (``"stream": true``) answers Server-Sent Events; chat streams carry a usage
    chunk only when the request asks for it with ``stream_options.include_usage``, as the real API does.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.default = Reply()
        """The answer given when the script is empty."""
        self._script: Deque[Scripted] = deque()
        self._requests: List[FakeRequest] = []
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> FakeLLM:
        """Bind and serve on a daemon thread (a no-op when running)."""
        if self._server is None:
            server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
            server.daemon_threads = True
            self._server = server
            self.port = server.server_address[1]
            self._thread = threading.Thread(target=server.serve_forever, name="fake-llm", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and join the server thread."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (the Anthropic SDK's ``base_url``; ``azure_endpoint`` for Azure OpenAI)."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """The OpenAI SDK's ``base_url``: :attr:`url` + ``/v1``."""
        return self.url + "/v1"

    # -- script ---------------------------------------------------------------------------------------------

    def reply(
        self,
        text: str = "Hello from the fake model.",
        *,
        usage: Optional[Usage] = None,
        tool_calls: Tuple[ToolCall, ...] = (),
        times: int = 1,
    ) -> None:
        """Queue a successful answer (``times`` copies of it)."""
        for _ in range(times):
            self._push(Reply(text=text, usage=usage or Usage(), tool_calls=tuple(tool_calls)))

    def fail(self, status: int = 500, *, retry_after: Optional[float] = None, times: int = 1) -> None:
        """Queue an error answer (500, 429 with ``Retry-After``, 400...), ``times`` times."""
        for _ in range(times):
            self._push(Failure(status=status, retry_after=retry_after))

    def cut_stream(
        self, text: str = "Hello from the fake model.", *, after: int = 2, usage: Optional[Usage] = None
    ) -> None:
        """Queue a streamed answer whose connection closes after ``after`` events, before any usage or end marker."""
        self._push(Reply(text=text, usage=usage or Usage(), cut_after=after))

    def _push(self, item: Scripted) -> None:
        with self._lock:
            self._script.append(item)

    def _next(self) -> Scripted:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    # -- records --------------------------------------------------------------------------------------------

    @property
    def requests(self) -> List[FakeRequest]:
        """Every request received, in order (a copy)."""
        with self._lock:
            return list(self._requests)

    def request_count(self, api: Optional[str] = None) -> int:
        """How many requests arrived (for one ``api``: ``chat``, ``responses`` or ``messages``)."""
        return sum(1 for r in self.requests if api is None or r.api == api)

    def _record(self, request: FakeRequest) -> None:
        with self._lock:
            self._requests.append(request)


# -- wire formats -------------------------------------------------------------------------------------------


def _api_of(path: str) -> str:
    bare = path.split("?", 1)[0].rstrip("/")
    for suffix, api in (("/chat/completions", "chat"), ("/responses", "responses"), ("/messages", "messages")):
        if bare.endswith(suffix):
            return api
    return "unknown"


def _error_body(api: str, failure: Failure) -> Dict[str, Any]:
    if api == "messages":
        kind = {429: "rate_limit_error", 400: "invalid_request_error", 529: "overloaded_error"}.get(
            failure.status, "api_error"
        )
        return {"type": "error", "error": {"type": kind, "message": failure.message}}
    kind = {429: "rate_limit_exceeded", 400: "invalid_request_error"}.get(failure.status, "server_error")
    return {"error": {"message": failure.message, "type": kind, "param": None, "code": None}}


def _chat_message(reply: Reply) -> Dict[str, Any]:
    message: Dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for i, c in enumerate(reply.tool_calls)
        ]
    return message


def _chat(reply: Reply, body: Dict[str, Any]) -> Dict[str, Any]:
    n = int(body.get("n") or 1)
    finish = "tool_calls" if reply.tool_calls else "stop"
    return {
        "id": _next_id("chatcmpl"),
        "object": "chat.completion",
        "created": _CREATED,
        "model": str(body.get("model", "fake-model")),
        "choices": [
            {"index": i, "message": _chat_message(reply), "finish_reason": finish, "logprobs": None} for i in range(n)
        ],
        "usage": reply.usage.openai_chat(),
    }


def _chat_events(reply: Reply, body: Dict[str, Any]) -> Iterator[Tuple[Optional[str], Any]]:
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {"id": _next_id("chatcmpl"), "object": "chat.completion.chunk", "created": _CREATED}
    base["model"] = str(body.get("model", "fake-model"))

    def chunk(delta: Dict[str, Any], finish: Optional[str] = None) -> Dict[str, Any]:
        out = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
        if include_usage:
            out["usage"] = None
        return out

    yield None, chunk({"role": "assistant", "content": ""})
    for piece in reply.pieces():
        yield None, chunk({"content": piece})
    for i, call in enumerate(reply.tool_calls):
        start = {"index": i, "id": f"call_{i}", "type": "function", "function": {"name": call.name, "arguments": ""}}
        yield None, chunk({"tool_calls": [start]})
        yield None, chunk({"tool_calls": [{"index": i, "function": {"arguments": json.dumps(call.arguments)}}]})
    yield None, chunk({}, "tool_calls" if reply.tool_calls else "stop")
    if include_usage:
        yield None, {**base, "choices": [], "usage": reply.usage.openai_chat()}
    yield None, "[DONE]"


def _response_items(reply: Reply) -> List[Dict[str, Any]]:
    items: List[Dict[str, Any]] = []
    if reply.text:
        items.append(
            {
                "type": "message",
                "id": _next_id("msg"),
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}],
            }
        )
    for i, call in enumerate(reply.tool_calls):
        items.append(
            {
                "type": "function_call",
                "id": _next_id("fc"),
                "call_id": f"call_{i}",
                "name": call.name,
                "arguments": json.dumps(call.arguments),
                "status": "completed",
            }
        )
    return items


def _response(reply: Reply, body: Dict[str, Any], *, status: str = "completed", rid: str = "") -> Dict[str, Any]:
    done = status == "completed"
    return {
        "id": rid or _next_id("resp"),
        "object": "response",
        "created_at": _CREATED,
        "status": status,
        "model": str(body.get("model", "fake-model")),
        "output": _response_items(reply) if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "usage": reply.usage.openai_responses() if done else None,
    }


def _responses_events(reply: Reply, body: Dict[str, Any]) -> Iterator[Tuple[Optional[str], Any]]:
    seq = itertools.count()
    rid = _next_id("resp")

    def event(kind: str, **fields: Any) -> Tuple[Optional[str], Any]:
        return kind, {"type": kind, "sequence_number": next(seq), **fields}

    yield event("response.created", response=_response(reply, body, status="in_progress", rid=rid))
    yield event("response.in_progress", response=_response(reply, body, status="in_progress", rid=rid))
    final = _response(reply, body, rid=rid)
    for index, item in enumerate(final["output"]):
        if item["type"] == "message":
            yield event(
                "response.output_item.added", output_index=index, item={**item, "content": [], "status": "in_progress"}
            )
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            yield event(
                "response.content_part.added", item_id=item["id"], output_index=index, content_index=0, part=part
            )
            for piece in reply.pieces():
                yield event(
                    "response.output_text.delta",
                    item_id=item["id"], output_index=index, content_index=0, delta=piece, logprobs=[],
                )  # fmt: skip
            yield event(
                "response.output_text.done",
                item_id=item["id"], output_index=index, content_index=0, text=reply.text, logprobs=[],
            )  # fmt: skip
            yield event(
                "response.content_part.done",
                item_id=item["id"], output_index=index, content_index=0, part=item["content"][0],
            )  # fmt: skip
        else:
            yield event("response.output_item.added", output_index=index, item={**item, "arguments": ""})
            yield event(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=index,
                delta=item["arguments"],
            )
            yield event(
                "response.function_call_arguments.done",
                item_id=item["id"], output_index=index, arguments=item["arguments"], name=item["name"],
            )  # fmt: skip
        yield event("response.output_item.done", output_index=index, item=item)
    yield event("response.completed", response=final)


def _message_content(reply: Reply) -> List[Dict[str, Any]]:
    content: List[Dict[str, Any]] = []
    if reply.text:
        content.append({"type": "text", "text": reply.text, "citations": None})
    for i, call in enumerate(reply.tool_calls):
        content.append({"type": "tool_use", "id": f"toolu_{i:02d}", "name": call.name, "input": call.arguments})
    return content


def _message(reply: Reply, body: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "id": _next_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": str(body.get("model", "fake-model")),
        "content": _message_content(reply),
        "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
        "stop_sequence": None,
        "usage": reply.usage.anthropic(),
    }


def _messages_events(reply: Reply, body: Dict[str, Any]) -> Iterator[Tuple[Optional[str], Any]]:
    def event(kind: str, **fields: Any) -> Tuple[Optional[str], Any]:
        return kind, {"type": kind, **fields}

    start = {**_message(reply, body), "content": [], "stop_reason": None}
    # As the real API does: message_start already reports a small output count, message_delta the final total.
    start["usage"] = reply.usage.anthropic(output=min(1, reply.usage.output))
    yield event("message_start", message=start)
    yield event("ping")
    index = 0
    if reply.text:
        yield event("content_block_start", index=index, content_block={"type": "text", "text": ""})
        for piece in reply.pieces():
            yield event("content_block_delta", index=index, delta={"type": "text_delta", "text": piece})
        yield event("content_block_stop", index=index)
        index += 1
    for i, call in enumerate(reply.tool_calls):
        block = {"type": "tool_use", "id": f"toolu_{i:02d}", "name": call.name, "input": {}}
        yield event("content_block_start", index=index, content_block=block)
        delta = {"type": "input_json_delta", "partial_json": json.dumps(call.arguments)}
        yield event("content_block_delta", index=index, delta=delta)
        yield event("content_block_stop", index=index)
        index += 1
    stop = "tool_use" if reply.tool_calls else "end_turn"
    yield event(
        "message_delta", delta={"stop_reason": stop, "stop_sequence": None}, usage={"output_tokens": reply.usage.output}
    )
    yield event("message_stop")


_NON_STREAM: Dict[str, Callable[[Reply, Dict[str, Any]], Dict[str, Any]]] = {
    "chat": _chat,
    "responses": _response,
    "messages": _message,
}
_STREAM: Dict[str, Callable[[Reply, Dict[str, Any]], Iterator[Tuple[Optional[str], Any]]]] = {
    "chat": _chat_events,
    "responses": _responses_events,
    "messages": _messages_events,
}


def _handler_for(fake: FakeLLM) -> Type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``fake`` (the server makes one handler per connection)."""
    return type("Handler", (_Handler,), {"fake": fake})


class _Handler(BaseHTTPRequestHandler):
    """Answers the three APIs' POSTs from the scripted items of :attr:`fake` (set by :func:`_handler_for`)."""

    fake: FakeLLM
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read :attr:`FakeLLM.requests` instead."""

    def do_GET(self) -> None:
        """Anything but POST is unknown here."""
        self._send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        """Record the request, then answer the next scripted item in the API's wire format."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        api = _api_of(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        if api == "unknown":
            self._record(api, body, headers, 404)
            self._send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        scripted = self.fake._next()
        if isinstance(scripted, Failure):
            self._record(api, body, headers, scripted.status)
            extra: Dict[str, str] = {}
            if scripted.retry_after is not None:
                extra["Retry-After"] = str(math.ceil(scripted.retry_after))
                extra["retry-after-ms"] = str(int(scripted.retry_after * 1000))
            self._send_json(scripted.status, _error_body(api, scripted), extra)
            return
        self._record(api, body, headers, 200)
        if body.get("stream"):
            self._send_events(_STREAM[api](scripted, body), scripted.cut_after)
        else:
            self._send_json(200, _NON_STREAM[api](scripted, body))

    def _record(self, api: str, body: Dict[str, Any], headers: Dict[str, str], status: int) -> None:
        self.fake._record(FakeRequest("POST", self.path, api, body, headers, status))

    def _send_json(self, status: int, payload: Any, extra: Optional[Dict[str, str]] = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_events(self, events: Iterator[Tuple[Optional[str], Any]], cut_after: Optional[int]) -> None:
        # Close-delimited body: a cut connection ends the stream the way a dropped upstream does.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for count, (name, data) in enumerate(events):
                if cut_after is not None and count >= cut_after:
                    break
                text = data if isinstance(data, str) else json.dumps(data)
                frame = (f"event: {name}\n" if name else "") + f"data: {text}\n\n"
                self.wfile.write(frame.encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away mid-stream
