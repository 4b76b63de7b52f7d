"""``$/progress`` for long work (loading a model, optimizing, profiling): one helper for all of it.

Reports only when the client supports work-done progress; a cancellable report's cancel button sets the
caller's event. ``report`` may be called from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

from lsprotocol import types


class Progress:
    def __init__(self, server: Any) -> None:
        self.server = server

    def supported(self) -> bool:
        try:
            caps = self.server.client_capabilities
            return bool(caps.window and caps.window.work_done_progress)
        except Exception:
            return False

    async def begin(self, title: str, message: str = "", cancel: threading.Event | None = None) -> str | None:
        """Start a report; its token, or None when there is none to send."""
        if not self.supported():
            return None
        token = f"slipstream-{uuid.uuid4()}"
        wdp = self.server.work_done_progress
        try:
            await asyncio.wait_for(wdp.create_async(token), 5)
            wdp.begin(token, types.WorkDoneProgressBegin(title=title, message=message, cancellable=cancel is not None))
        except Exception:
            return None
        if cancel is not None:
            fut = wdp.tokens.get(token)
            if fut is not None:  # the client's cancel button
                fut.add_done_callback(lambda _: cancel.set())
        return token

    def report(self, token: str | None, message: str) -> None:
        if token is None:
            return
        loop = self.server.loop
        loop.call_soon_threadsafe(
            self.server.work_done_progress.report, token, types.WorkDoneProgressReport(message=message)
        )

    def end(self, token: str | None, message: str = "done") -> None:
        if token is not None:
            self.server.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))

    @contextlib.asynccontextmanager
    async def around(self, title: str, message: str = "") -> AsyncIterator[str | None]:
        token = await self.begin(title, message)
        try:
            yield token
        finally:
            self.end(token)
