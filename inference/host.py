"""Model hosting: which model is loaded, loading a new one in the background, and the state to show.

The state is a ``ModelState``; every change is reported through ``on_state``. A load runs on a worker
thread with a progress report; settings that change during a load start a newer one, and only the
newest result is kept (an older engine is closed off the event loop). Errors become the ``error``
state with a clear message through ``on_error``; nothing raises into the caller.

The engine is the local one (a ``ModelConfig``: a GGUF loaded here) or a remote one (a ``RemoteConfig``:
a team's inference server, inference/remote.py). A remote engine reports the health of every exchange;
the first fault starts a fault *episode*: the ``error`` state with the fault as its detail and ONE message
through ``on_error``, however many requests fail after it. The engine stays in use during the episode
(``serving``), so the first request that works again ends it and the state returns to ``ready``.

With a fallback (``fallbackToLocal``: a ``ModelConfig``), the first fault of an episode also loads the local
model once (kept for later episodes); while the remote engine backs off, completions go to it, and when
its window closes the remote one is served again for a try: a request that works ends the episode, one
that fails opens a longer window (no new message).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from slipstream.inference.api import GenerationEngine, PromptModel
from slipstream.inference.engine import Engine
from slipstream.inference.model import ModelConfig, ModelLoadError, load_model
from slipstream.inference.remote import ENGINES, RemoteConfig, RemoteEngine, endpoint_label
from slipstream.inference.remote_llamacpp import LlamaCppEngine
from slipstream.inference.remote_openai import OpenAIEngine

log = logging.getLogger(__name__)


def open_remote(config: RemoteConfig, on_health: Callable[[str | None], None] | None = None) -> RemoteEngine:
    """The engine of ``config.engine``'s dialect (raises ``ModelLoadError`` for a bad configuration)."""
    dialects: dict[str, type[RemoteEngine]] = {"openai": OpenAIEngine, "llamacpp": LlamaCppEngine}
    if config.engine not in dialects:
        raise ModelLoadError(f"slipstream.engine must be one of {', '.join(ENGINES)}")
    return dialects[config.engine](config, on_health)


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
        self.engine: GenerationEngine | None = None
        self.state = ModelState.STARTING
        self.detail = ""
        self._on_state, self._on_error, self._progress = on_state, on_error, progress
        self._seq = 0
        self._task: asyncio.Task | None = None
        self._enabled = True
        self._engine_seq = 0  # the load that made self.engine
        self._episode = False  # a remote engine's fault episode is running (one message each)
        self._fallback_config: ModelConfig | None = None  # the local model to serve during a remote fault episode
        self._fallback: Engine | None = None
        self._fallback_loading = False
        self._fallback_task: asyncio.Future | None = None
        self._trial: asyncio.TimerHandle | None = None  # when the remote engine is served again for a try

    @property
    def model(self) -> PromptModel | None:
        return self.engine.model if self.engine else None

    @property
    def serving(self) -> GenerationEngine | None:
        """The engine completions go to: the ready one, or in a remote engine's fault episode the local
        fallback while the remote one backs off, else the remote one (its next request that works ends the
        episode)."""
        if self.state == ModelState.READY:
            return self.engine
        if self.state == ModelState.ERROR and self._episode:
            if self._fallback is not None and isinstance(self.engine, RemoteEngine) and self.engine.backing_off():
                return self._fallback
            return self.engine
        return None

    @property
    def falling_back(self) -> bool:
        return self._fallback is not None and self.serving is self._fallback

    def set_state(self, state: ModelState, detail: str = "") -> None:
        self.state, self.detail = state, detail
        self._on_state()

    def load(
        self, config: ModelConfig | RemoteConfig, enabled: bool, fallback: ModelConfig | None = None
    ) -> Awaitable[None]:
        """Start loading ``config`` in the background; the returned task ends when this load is done.
        ``fallback``: with a remote ``config``, the local model served during its fault episodes."""
        self._seq += 1
        self._episode = False
        self._enabled = enabled
        self._cancel_trial()
        if fallback != self._fallback_config or not isinstance(config, RemoteConfig):
            old, self._fallback = self._fallback, None
            if old is not None:
                asyncio.get_running_loop().run_in_executor(None, old.close)
        self._fallback_config = fallback if isinstance(config, RemoteConfig) else None
        if isinstance(config, RemoteConfig):
            self._task = asyncio.ensure_future(self._connect(self._seq, config))
        else:
            self._task = asyncio.ensure_future(self._load(self._seq, config, enabled))
        return self._task

    async def _load(self, seq: int, config: ModelConfig, enabled: bool) -> None:
        what = config.path or "default model"
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        model = None
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
        self._replace_engine(Engine(model), seq)
        log.info("model %s loaded in %.2fs (fim=%s)", model.name, time.perf_counter() - t0, model.fim is not None)
        self.set_state(ModelState.READY if enabled else ModelState.DISABLED, model.name)

    def _replace_engine(self, engine: GenerationEngine, seq: int) -> None:
        old, self.engine, self._engine_seq = self.engine, engine, seq
        if old is not None:
            asyncio.get_running_loop().run_in_executor(None, old.close)

    async def _connect(self, seq: int, config: RemoteConfig) -> None:
        """A remote engine: no model to load, but the server is asked whether it is up and serves the model;
        from then on every exchange reports to ``_health``."""
        loop = asyncio.get_running_loop()
        what = endpoint_label(config.endpoint)
        async with self._progress("Slipstream: connecting", what):
            self.set_state(ModelState.LOADING, what)
            try:
                engine = open_remote(config)
            except ModelLoadError as exc:
                if seq == self._seq:
                    self.set_state(ModelState.ERROR, str(exc))
                    self._on_error(f"Slipstream: {exc}")
                return
            if seq != self._seq:
                loop.run_in_executor(None, engine.close)
                return
            self._replace_engine(engine, seq)
            engine.on_health = lambda message: loop.call_soon_threadsafe(self._health, engine, message)
            await loop.run_in_executor(None, engine.check)

    def _health(self, engine: GenerationEngine, message: str | None) -> None:
        """After each exchange of the current remote engine: ``None`` if it worked, else the fault."""
        if engine is not self.engine or self._engine_seq != self._seq:
            return  # an older engine's last words, or a newer load is running
        if message is not None:
            first = not self._episode
            self._episode = True
            if self._fallback_config is not None:
                self._start_fallback()
                self._schedule_trial(engine)
            if first or self.state != ModelState.ERROR or self.detail != message:
                self.set_state(ModelState.ERROR, message)  # the state always shows the latest fault
            if first:
                also = "; completing with the local model until it answers again" if self._fallback_config else ""
                self._on_error(f"Slipstream: {message}{also}")  # one message per episode, not per keystroke
            return
        self._cancel_trial()
        if self._episode or self.state == ModelState.LOADING:
            if self._episode:
                log.info("Slipstream: %s answers again", engine.model.describe().get("endpoint", ""))
            self._episode = False
            self.set_state(ModelState.READY if self._enabled else ModelState.DISABLED, engine.model.name)

    def _start_fallback(self) -> None:
        """Load the local fallback model once, in the background (it stays for later episodes)."""
        if self._fallback is not None or self._fallback_loading or self._fallback_config is None:
            return
        self._fallback_loading = True
        config, seq, loop = self._fallback_config, self._seq, asyncio.get_running_loop()

        async def load() -> None:
            try:
                model = await loop.run_in_executor(None, load_model, config)
            except Exception as exc:  # the remote fault stays the message; this one goes to the log
                log.warning("the local fallback model could not be loaded: %s", exc)
                return
            finally:
                self._fallback_loading = False
            if seq != self._seq or config != self._fallback_config:
                return  # the settings changed meanwhile
            self._fallback = Engine(model)
            log.info("local fallback model %s loaded", model.name)
            self._on_state()  # serving may switch to it now

        self._fallback_task = asyncio.ensure_future(load())

    def _schedule_trial(self, engine: GenerationEngine) -> None:
        """When the remote engine's backoff window closes, serve it again (a state refresh) for a try."""
        self._cancel_trial()
        if isinstance(engine, RemoteEngine):
            self._on_state()  # the fallback now, if it is loaded
            self._trial = asyncio.get_running_loop().call_later(engine.backing_off() + 0.01, self._on_state)

    def _cancel_trial(self) -> None:
        if self._trial is not None:
            self._trial.cancel()
            self._trial = None

    def enable(self, enabled: bool) -> None:
        self._enabled = enabled
        if self.state in (ModelState.READY, ModelState.DISABLED):
            self.set_state(ModelState.READY if enabled else ModelState.DISABLED, self.detail)

    def close(self) -> None:
        self._cancel_trial()
        if self.engine is not None:
            self.engine.close()
        if self._fallback is not None:
            self._fallback.close()
