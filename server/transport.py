"""A JSON-RPC read loop that survives bad framing: it answers what it cannot parse and finds the next message.

pygls's loop matches only an exact ``Content-Length: N\\r\\n`` line, waits forever for a huge length and
loses every later message after one body shorter than its header said (the rest of that body swallows the
next header line). This loop finds a ``Content-Length`` header anywhere in a line, which re-synchronises
on the next message; refuses lengths over ``MAX_BODY`` without reading them; and answers a body that is
not JSON (or not UTF-8) with a Parse error and one that is not a JSON-RPC object with an Invalid Request,
as JSON-RPC 2.0 asks.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from pygls.exceptions import JsonRpcInvalidRequest, JsonRpcParseError

log = logging.getLogger(__name__)

MAX_BODY = 64 << 20  # 64 MiB: ten times the largest document we accept
_LENGTH = re.compile(rb"content-length[ \t]*:[ \t]*(\d+)", re.IGNORECASE)


async def run_async(stop_event, reader, protocol, logger=None, error_handler=None) -> None:
    """Drop-in replacement for ``pygls.io_.run_async`` (same signature)."""
    length: int | None = None
    while not stop_event.is_set():
        line = await reader.readline()
        if not line:
            break
        if length is None:
            m = _LENGTH.search(line)
            if m is None:
                if line.strip():
                    log.warning("skipping %d bytes outside any message", len(line))
                continue
            n = int(m.group(1))
            if n > MAX_BODY:
                log.error("refusing a %d-byte message (the limit is %d); looking for the next one", n, MAX_BODY)
                continue
            length = n
            continue
        if line.strip():
            continue  # another header (Content-Type)
        body = await reader.readexactly(length) if length else b""
        length = None
        handle_body(protocol, body, error_handler)


def handle_body(protocol: Any, body: bytes, error_handler: Any = None) -> None:
    try:
        text = body.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        log.error("unparseable message (%s)", exc)
        _error(protocol, None, JsonRpcParseError(f"not a JSON message: {exc}"))
        return
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0" or not _valid_shape(data):
        msg_id = data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), (int, str)) else None
        _error(protocol, msg_id, JsonRpcInvalidRequest("not a JSON-RPC 2.0 request, response or notification"))
        return
    try:
        message = json.loads(text, object_hook=protocol.structure_message)
        protocol.handle_message(message)
    except Exception as exc:  # pygls logs and reports; the loop goes on
        log.exception("unable to handle a message")
        if error_handler is not None:
            from pygls.exceptions import JsonRpcException

            error_handler(exc, JsonRpcException)


def _valid_shape(data: dict[str, Any]) -> bool:
    if "method" in data:
        return isinstance(data["method"], str) and ("id" not in data or isinstance(data["id"], (int, str)))
    return "id" in data and ("result" in data or "error" in data)  # a response to one of our requests


def _error(protocol: Any, msg_id: Any, exc: Any) -> None:
    try:
        protocol._send_response(msg_id, error=exc.to_response_error())
    except Exception:
        log.exception("could not send an error response")
