"""Model hosting: which model is loaded, loading a new one in the background, and the state to show.

The state is a ``ModelState``; every change is reported through ``on_state``. A load runs on a worker
thread with a progress report; settings that change during a load start a newer one, and only the
newest result is kept (an older engine is closed off the event loop). Errors become the ``error``
state with a clear message through ``on_error``; nothing raises into the caller.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from slipstream.inference.engine import Engine
from slipstream.inference.model import LoadedModel, ModelConfig, ModelLoadError, load_model

log = logging.getLogger(__name__)


class ModelState(str, enum.Enum):
    STARTING = "starting"
    LOADING = "loading"
    READY = "ready"
    ERROR = "error"
    DISABLED = "disabled"


# ``progress(title, message)``: an async context manager around the load (the LSP layer's $/progress).
ProgressFactory = Callable[[str, str], AbstractAsyncContextManager]


class ModelHost:
    def __init__(
        self,
        on_state: Callable[[], None],
        on_error: Callable[[str], None],
        progress: ProgressFactory,
    ) -> None:
        self.engine: Engine | None = None
        self.state = ModelState.STARTING
        self.detail = ""
        self._on_state, self._on_error, self._progress = on_state, on_error, progress
        self._seq = 0
        self._task: asyncio.Task | None = None

    @property
    def model(self) -> LoadedModel | None:
        return self.engine.model if self.engine else None

    def set_state(self, state: ModelState, detail: str = "") -> None:
        self.state, self.detail = state, detail
        self._on_state()

    def load(self, config: ModelConfig, enabled: bool) -> Awaitable[None]:
        """Start loading ``config`` in the background; the returned task ends when this load is done."""
        self._seq += 1
        self._task = asyncio.ensure_future(self._load(self._seq, config, enabled))
        return self._task

    async def _load(self, seq: int, config: ModelConfig, enabled: bool) -> None:
        what = config.path or "default model"
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        model: LoadedModel | None = None
        async with self._progress("Slipstream: loading model", what):
            self.set_state(ModelState.LOADING, what)
            try:
                model = await loop.run_in_executor(None, load_model, config)
            except ModelLoadError as exc:
                if seq == self._seq:
                    self.set_state(ModelState.ERROR, str(exc))
                    self._on_error(f"Slipstream: {exc}")
            except Exception as exc:  # anything else from llama.cpp: still a clear message, never a crash
                log.exception("model load failed")
                if seq == self._seq:
                    self.set_state(ModelState.ERROR, f"model load failed: {exc}")
                    self._on_error(f"Slipstream: model load failed: {exc}")
        if model is None or seq != self._seq:  # failed, or settings changed while loading: a newer load runs
            return
        old, self.engine = self.engine, Engine(model)
        if old is not None:
            loop.run_in_executor(None, old.close)
        log.info("model %s loaded in %.2fs (fim=%s)", model.name, time.perf_counter() - t0, model.fim is not None)
        self.set_state(ModelState.READY if enabled else ModelState.DISABLED, model.name)

    def enable(self, enabled: bool) -> None:
        if self.state in (ModelState.READY, ModelState.DISABLED):
            self.set_state(ModelState.READY if enabled else ModelState.DISABLED, self.detail)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
