"""What the completion pipeline needs from an engine and its model, whichever engine it is.

Two engines implement it: the local one (``engine.Engine`` over a ``model.LoadedModel``: llama.cpp in
this process) and the remote one (``remote.RemoteEngine`` over a ``remote.RemoteModel``: an
OpenAI-compatible server). Both run one generation at a time on one worker thread, newest request wins
(``submit`` supersedes every earlier request; a queued one is dropped before it reaches the model or the
network), and resolve every future with a ``GenerationResult``.

A remote engine can fail where the local one cannot (the server is down, rejects the key, ...): such a
request resolves with ``stop_reason == FAILED`` and empty text. The completion service then answers with
no ghost text and caches nothing; the engine reports the fault itself to its host (one message per fault
episode, see ``host.py``).
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Protocol

from slipstream.inference.engine import GenerationRequest
from slipstream.inference.fim import FimTokens
from slipstream.inference.prompt import PromptBudget

FAILED = "error"  # GenerationResult.stop_reason of a generation the engine could not run; its text is ""


class PromptModel(Protocol):
    """The model facts prompt building needs (completion/prepare.py, inference/prompt.py)."""

    path: str  # identifies the model in cache keys (a remote model: engine, endpoint, model name, FIM layout)
    name: str
    fim: FimTokens | None
    bos: int | None
    budget: PromptBudget  # the prompt window's bounds: what a prompt token costs differs between engines

    @property
    def n_ctx(self) -> int: ...

    def tokenize(self, text: str) -> list[int]: ...

    def describe(self) -> dict[str, Any]: ...


class GenerationEngine(Protocol):
    """One generation at a time, newest request wins (see ``engine.Engine``)."""

    model: PromptModel

    def submit(self, request: GenerationRequest) -> Future: ...

    def submit_if_idle(self, request: GenerationRequest) -> Future | None: ...

    def supersede_all(self) -> None: ...

    def busy(self) -> bool: ...

    @property
    def stops_background_at_once(self) -> bool: ...

    def close(self) -> None: ...
