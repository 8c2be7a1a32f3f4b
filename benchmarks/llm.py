"""LLM adapter overhead, side by side with the bare openai SDK, against the fake provider and the emulator.

Figures, not assertions. Both servers run on threads of this process, so only the calling thread's CPU is counted
(``time.thread_time``): what the SDK, the adapter and vluna_client spend in your request thread.

- per non-streaming call: bare ``chat.completions.create`` vs the gated one (authorize + call + commit);
- per streamed chunk: iterating a long chat stream bare vs gated (the wrapper's per-chunk work; the authorize and
  the commit are fixed costs of the call, reported with the call figures, and left out of the chunk loop).

``python benchmarks/llm.py [--calls 200] [--words 2000] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable

import openai

from vluna_client.contrib.llm import gate_context
from vluna_client.contrib.openai import gate_openai
from vluna_client.testing import Emulator, FakeLLM, Usage

MSG = [{"role": "user", "content": "hello"}]


def per_call(fn: Callable[[], Any], calls: int) -> float:
    fn()  # warm: connections, imports, first-use caches
    start = time.thread_time()
    for _ in range(calls):
        fn()
    return (time.thread_time() - start) / calls


def chunk_loop(stream: Any) -> tuple[float, int]:
    """CPU of iterating the content chunks (up to the finish chunk), and how many there were."""
    chunks = 0
    start = time.thread_time()
    for chunk in stream:
        chunks += 1
        if chunk.choices and chunk.choices[0].finish_reason is not None:
            break
    elapsed = time.thread_time() - start
    for _ in stream:  # the usage chunk (the gated stream commits it here, outside the timed loop)
        pass
    return elapsed, chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--words", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with Emulator() as emu, FakeLLM() as fake, emu.service_client() as vluna:
        fake.default = type(fake.default)(text="ok", usage=Usage(input=20, output=5))
        sdk = openai.OpenAI(base_url=fake.openai_base_url, api_key="bench", max_retries=0)
        gated = gate_openai(sdk, vluna=vluna, feature_code="llm.chat")
        with gate_context(principal_id="org_bench", user_id="u_bench"):
            bare_call = statistics.median(
                per_call(lambda: sdk.chat.completions.create(model="m", messages=MSG), args.calls)
                for _ in range(args.rounds)
            )
            gated_call = statistics.median(
                per_call(lambda: gated.chat.completions.create(model="m", messages=MSG), args.calls)
                for _ in range(args.rounds)
            )
            long_text = " ".join(f"w{i}" for i in range(args.words))
            fake.default = type(fake.default)(text=long_text, usage=Usage(input=20, output=args.words))
            bare_chunks, gated_chunks = [], []
            for _ in range(args.rounds):
                opts = {"stream_options": {"include_usage": True}}
                elapsed, n = chunk_loop(sdk.chat.completions.create(model="m", messages=MSG, stream=True, **opts))
                bare_chunks.append(elapsed / n)
                elapsed, n = chunk_loop(gated.chat.completions.create(model="m", messages=MSG, stream=True))
                gated_chunks.append(elapsed / n)
        commits = len(emu.ledger.commits())

    bare_chunk, gated_chunk = statistics.median(bare_chunks), statistics.median(gated_chunks)
    print(f"{'':44} {'bare SDK':>12} {'gated':>12} {'overhead':>12}")
    print(
        f"{'client CPU per non-streaming call':44} {bare_call * 1e3:10.3f}ms {gated_call * 1e3:10.3f}ms "
        f"{(gated_call - bare_call) * 1e3:10.3f}ms"
    )
    print(
        f"{'adapter CPU per streamed chunk':44} {bare_chunk * 1e6:10.2f}us {gated_chunk * 1e6:10.2f}us "
        f"{(gated_chunk / bare_chunk - 1) * 100:+10.1f}%"
    )
    print(f"({args.calls} calls x {args.rounds} rounds; streams of {args.words} chunks; {commits} commits recorded)")


if __name__ == "__main__":
    main()
