"""The same typing replay against llama.cpp's own ``llama-server`` (what llama.vscode uses), for comparison.

One streaming ``/completion`` request per keystroke with ``cache_prompt`` and the very same prompt token
ids Slipstream builds (a line-anchored window), greedy, the previous request dropped when a key comes
(the connection is closed, which stops llama-server's slot). Loopback only. Build the binary from the
llama-cpp-python sdist: ``vendor/llama.cpp``, ``cmake -B build -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF &&
cmake --build build --target llama-server -j2`` (about 10 minutes here); optional, not part of CI.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from slipstream.completion.prepare import Options, PrepareRequest, prepare
from slipstream.inference.model import ModelConfig, default_model_path, load_model
from slipstream.server.settings import Settings


@dataclass
class Key:
    sent: float
    first: float | None = None
    final: float | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_healthy(port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            await writer.drain()
            data = await reader.read()
            writer.close()
            if b" 200 " in data.split(b"\r\n", 1)[0]:
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError("llama-server did not become healthy")


async def stream_completion(port: int, tokens: list[int], n_predict: int, key: Key) -> None:
    body = json.dumps(
        {
            "prompt": tokens,
            "n_predict": n_predict,
            "stream": True,
            "cache_prompt": True,
            "temperature": 0.0,
            "top_k": 1,
            "samplers": ["top_k"],
        }
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            b"POST /completion HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        while True:
            line = await reader.readline()
            if not line:
                break
            if line.startswith(b"data: "):
                event = json.loads(line[6:])
                if key.first is None and event.get("content"):
                    key.first = time.perf_counter()
                if event.get("stop"):
                    key.final = time.perf_counter()
                    break
    finally:
        writer.close()  # a dropped connection stops the generation in llama-server


async def replay_llama_server(
    binary: str, text: str, region: tuple[int, int], seed: int, threads: int, pace: str = "human"
) -> dict[str, Any]:
    """The keystroke schedule of bench/replay.py (same seed and pace), each key a request to llama-server;
    with the fast pace the next key goes when this one's stream ended."""
    from bench.replay import apply_step, indentation, keystrokes, pause_after_key, pause_at_line_end

    rng = random.Random(seed)
    model_path = default_model_path()
    model = load_model(ModelConfig(path=model_path, n_ctx=2048, n_threads=1))  # for the tokenizer only
    settings = Settings(threads=threads)
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "-m",
            model_path,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "-c",
            "2048",
            "-t",
            str(threads),
            "-np",
            "1",
            "--no-webui",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    keys: list[Key] = []
    try:
        await wait_healthy(port)
        lines = text.split("\n")
        r0, r1 = region
        typed_lines = lines[r0:r1]
        doc_lines = [*lines[:r0], indentation(typed_lines[0]), *lines[r1:]]
        current: asyncio.Task | None = None
        for step in keystrokes(typed_lines, r0):
            if not step.ask and step.text.startswith("\n"):
                await pause_at_line_end(pace, rng)
            apply_step(doc_lines, step)
            if not step.ask:
                continue
            row, col = step.cursor
            doc = "\n".join(doc_lines)
            offset = sum(len(x) + 1 for x in doc_lines[:row]) + col
            # the document's prompt, as a plain client sends it (Slipstream's line break after a header is its own)
            prepared = prepare(PrepareRequest(doc, offset, Options.from_settings(settings), leads=False), model)
            if current is not None and not current.done():
                current.cancel()  # newest wins: drop the stale request
            key = Key(time.perf_counter())
            keys.append(key)
            current = asyncio.ensure_future(
                stream_completion(port, prepared.prompt.tokens, prepared.rules.max_tokens, key)
            )
            await pause_after_key(pace, rng, current)
        await pause_at_line_end(pace, rng)
        if current is not None:
            await asyncio.gather(current, return_exceptions=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return {
        "keystrokes": len(keys),
        "every_first": [(k.first - k.sent) * 1000 if k.first is not None else None for k in keys],
        "first": [(k.first - k.sent) * 1000 for k in keys if k.first is not None],
    }
