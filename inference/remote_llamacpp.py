"""The ``llamacpp`` engine: llama.cpp's own server (``llama-server``), as llama.vscode uses it.

With a model whose vocabulary has FIM tokens, a completion is ``POST /infill``: the lines before the cursor
as ``input_prefix``, the cursor's line so far as ``prompt`` (never truncated by the server, and the part
that changes at each keystroke, so ``cache_prompt`` reuses everything ahead of it), the text after the
cursor as ``input_suffix``, project context (when on) as an ``input_extra`` chunk. Without FIM tokens it is
``POST /completion`` with the prefix as ``prompt`` (or, with ``fimTemplate``, a raw FIM prompt). Both
stream server-sent events of ``{"content", "stop", "stop_type"}``; the last has ``stop: true``.

Before the first completion (and after every fault): ``GET /health`` (a server still loading its model
answers 503: a clear fault, retried after its Retry-After), ``GET /props`` (the model's name and the
slot's context size, which caps the prompt budget) and whether ``/infill`` is supported, learnt without
generating anything: a request the server must refuse either way, with 501 "Infill is not supported by
this model" before it looks at the body, or 400 for the body. A superseded request closes its stream:
llama-server stops the slot at its next token (tests/test_remote_llamacpp.py checks ``/slots``).
"""

from __future__ import annotations

import os
from typing import Any

from slipstream.inference.engine import GenerationRequest
from slipstream.inference.remote import (
    FIM_MARKERS,
    RemoteEngine,
    RemoteFault,
    RemoteModel,
    fim_prompt,
    split_layout,
)

# A body /infill must refuse: input_extra must be an array. llama-server answers 501 before reading it when
# the model cannot fill in the middle, 400 after reading it when it can; nothing is evaluated either way.
PROBE = {"input_prefix": "", "input_suffix": "", "input_extra": "probe", "n_predict": 1}


class LlamaCppEngine(RemoteEngine):
    ENGINE = "llamacpp"
    LENGTH = "limit"  # stop_type when n_predict was reached
    STRIP = ("/infill", "/completion", "/completions", "/v1")

    async def _verify(self) -> None:
        host = self.endpoint.host
        model: RemoteModel = self.model  # type: ignore[assignment]
        resp = await self._fetch("GET", self.endpoint.url("/health"))
        if resp.status == 503:
            fault = self._status_fault(resp, resp.body)
            raise RemoteFault(
                f"{host} is not ready yet (still loading its model?): {fault.message}", fault.retry_after or 1.0
            )
        if resp.status == 404:
            raise RemoteFault(
                f"{host} has no /health: is it llama.cpp's llama-server? For other servers set slipstream.engine "
                "to openai"
            )
        if resp.status != 200:
            raise self._status_fault(resp, resp.body)
        resp = await self._fetch("GET", self.endpoint.url("/props"))
        if resp.status in (401, 403):
            raise self._status_fault(resp, resp.body)
        if resp.status == 200:
            try:
                props = resp.json()
                name = str(props.get("model_alias") or props.get("model_path") or "")
                name = os.path.basename(name) if "/" in name else name  # no alias: the GGUF's path
                slot_ctx = int(props["default_generation_settings"]["n_ctx"])
            except (ValueError, KeyError, TypeError, AttributeError):
                name, slot_ctx = "", 0
            if name and not self.config.model:
                model.served = str(name)
            if slot_ctx > 0:
                model._n_ctx = min(self.config.n_ctx, slot_ctx)  # the server would cut a longer prompt itself
        if self.config.model:
            await self._model_list(self.endpoint.url("/v1/models"))
        if self.config.fim_template:
            model.fim = FIM_MARKERS  # laid out here, sent to /completion
        else:
            resp = await self._fetch("POST", self.endpoint.url("/infill"), PROBE)
            if resp.status in (401, 403):
                raise self._status_fault(resp, resp.body)
            if resp.status == 404:
                raise RemoteFault(
                    f"{host} has no /infill: is it llama.cpp's llama-server? For other servers set "
                    "slipstream.engine to openai"
                )
            model.fim = None if resp.status == 501 else FIM_MARKERS
        self._verified = True

    def _request(self, req: GenerationRequest) -> tuple[str, dict[str, Any]]:
        layout = split_layout(req.prompt.tokens)
        body: dict[str, Any] = {}
        if self.config.model:
            body["model"] = self.config.model  # llama-server's router mode picks the model by it
        if layout.after is not None and not self.config.fim_template and self.model.fim is not None:
            url = self.endpoint.url("/infill")
            body["input_prefix"], body["prompt"], body["input_suffix"] = layout.before, layout.current, layout.after
            body["input_extra"] = [{"filename": "context.py", "text": layout.head}] if layout.head else []
        else:
            url = self.endpoint.url("/completion")
            if layout.after is not None and self.config.fim_template:
                body["prompt"] = fim_prompt(self.config.fim_template, layout.prefix, layout.after)
            else:
                body["prompt"] = layout.prefix  # a prefix-only model: the text after the cursor is not sent
        body["n_predict"] = req.rules.max_tokens
        body["cache_prompt"] = True
        body["t_max_predict_ms"] = max(1, int(req.rules.time_budget_s * 1000))
        body["temperature"] = req.temperature
        if req.temperature > 0:
            body["top_p"], body["seed"] = 0.95, req.seed
        else:
            body["top_k"] = 1
        if req.rules.single_line:
            body["stop"] = ["\n"]
        body["stream"] = True
        return url, body

    def _chunk(self, data: str) -> tuple[str, str | None]:
        """One event: its ``content``; on the last (``stop: true``) the stop type (eos, limit, word)."""
        obj = self._json(data)
        content = obj.get("content") if isinstance(obj, dict) else None
        if not isinstance(content, (str, type(None))) or not isinstance(obj, dict):
            raise RemoteFault(f"{self.endpoint.host} sent a malformed completion stream (an event without content)")
        if obj.get("stop") is True:
            kind = obj.get("stop_type")
            return content or "", kind if isinstance(kind, str) and kind else "eos"
        return content or "", None
