"""httpx vs aiohttp for the remote engines' one pooled, kept-alive, streaming connection, side by side.

A loopback server streams a completion as server-sent events (``EVENTS`` events of a few bytes, the shape
of a llama-server or OpenAI stream, no generation delay), so what is timed is the client: request ->
first event, and -> last event, over one kept-alive connection. The two clients alternate request by
request; every request counts. Prints a table. The engines use aiohttp (inference/remote.py): this is the
measurement behind that choice (httpx is not a dependency: ``pip install httpx`` to rerun it).

Usage: .venv/bin/python bench/http_client.py [--requests 400]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

EVENTS = 24
BODY = b"".join(b'data: {"content":" tok%d","stop":false}\n\n' % i for i in range(EVENTS))
BODY += b'data: {"content":"","stop":true,"stop_type":"limit"}\n\n'


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP/1.1 keep-alive; each POST gets the stream in chunked encoding, one chunk per event."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            for event in BODY.split(b"\n\n")[:-1]:
                chunk = event + b"\n\n"
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        writer.close()


async def with_httpx(client, url: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    first = None
    async with client.stream("POST", url, json={"prompt": "x", "stream": True}) as resp:
        async for line in resp.aiter_lines():
            if line.startswith("data:") and first is None:
                first = time.perf_counter()
    return (first - t0) * 1e3, (time.perf_counter() - t0) * 1e3


async def with_aiohttp(session, url: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    first = None
    async with session.post(url, json={"prompt": "x", "stream": True}) as resp:
        async for line in resp.content:
            if line.startswith(b"data:") and first is None:
                first = time.perf_counter()
    return (first - t0) * 1e3, (time.perf_counter() - t0) * 1e3


async def main(n: int) -> None:
    import aiohttp
    import httpx

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/completion"
    results: dict[str, list[tuple[float, float]]] = {"httpx": [], "aiohttp": []}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with (
        httpx.AsyncClient(limits=limits, trust_env=False) as hx,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), trust_env=False) as ah,
    ):
        for i in range(n):
            pair = [("httpx", with_httpx(hx, url)), ("aiohttp", with_aiohttp(ah, url))]
            for name, coro in pair if i % 2 == 0 else pair[::-1]:
                results[name].append(await coro)
    server.close()
    print(f"\nhttpx vs aiohttp: {n} streamed requests each ({EVENTS + 1} events), one kept-alive connection, loopback")
    print(f"{'client':<9}{'first p50':>11}{'first p95':>11}{'whole p50':>11}{'whole p95':>11}")
    for name, rows in results.items():
        firsts, wholes = sorted(r[0] for r in rows), sorted(r[1] for r in rows)
        p95 = lambda v: v[int(0.95 * (len(v) - 1))]  # noqa: E731
        print(
            f"{name:<9}{statistics.median(firsts):>9.2f}ms{p95(firsts):>9.2f}ms"
            f"{statistics.median(wholes):>9.2f}ms{p95(wholes):>9.2f}ms"
        )
    hx_w = statistics.median(r[1] for r in results["httpx"])
    ah_w = statistics.median(r[1] for r in results["aiohttp"])
    print(f"whole-stream ratio httpx / aiohttp (p50): {hx_w / ah_w:.2f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=400)
    asyncio.run(main(ap.parse_args().requests))
