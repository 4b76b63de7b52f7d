"""The ``openai`` engine: an OpenAI-compatible ``POST /v1/completions`` with ``stream: true`` (SSE).

llama-cpp-python's server, vLLM, Ollama (``/v1``), TGI. Fill-in-the-middle goes either through the server
(the prefix as ``prompt``, the text after the cursor as ``suffix``: llama-cpp-python's server, Ollama) or,
with ``fimTemplate``, through a raw prompt laid out here with a named model family's FIM markers (vLLM,
TGI). The model list (``/v1/models``) is checked before the first completion and after every fault.
Everything else (streaming, cancellation, faults, backoff) is the shared ``RemoteEngine``'s.
"""

from __future__ import annotations

from typing import Any

from slipstream.inference.engine import GenerationRequest
from slipstream.inference.remote import Endpoint, RemoteEngine, RemoteFault, fim_prompt, parse_url, split_layout


class OpenAIEngine(RemoteEngine):
    ENGINE = "openai"
    LENGTH = "length"

    @classmethod
    def parse_endpoint(cls, url: str) -> Endpoint:
        """``/v1`` is appended unless the path ends in ``/v1`` or ``/completions`` (a pasted full URL)."""
        ep = parse_url(url, ("/completions",))
        if not ep.base.endswith("/v1") and not url.rstrip("/").endswith("/completions"):
            ep = Endpoint(ep.root, ep.base + "/v1", ep.host, ep.loopback)
        return ep

    async def _verify(self) -> None:
        await self._model_list(self.endpoint.url("/models"))
        self._verified = True

    def _request(self, req: GenerationRequest) -> tuple[str, dict[str, Any]]:
        layout = split_layout(req.prompt.tokens)
        body: dict[str, Any] = {}
        if self.model.served:  # type: ignore[attr-defined]
            body["model"] = self.model.served  # type: ignore[attr-defined]
        if layout.after is None:
            body["prompt"] = layout.prefix
        elif self.config.fim_template:
            body["prompt"] = fim_prompt(self.config.fim_template, layout.prefix, layout.after)
        else:
            body["prompt"], body["suffix"] = layout.prefix, layout.after
        body["max_tokens"] = req.rules.max_tokens
        body["temperature"] = req.temperature
        if req.temperature > 0:
            body["top_p"], body["seed"] = 0.95, req.seed
        if req.rules.single_line:
            body["stop"] = ["\n"]  # the server stops at the line's end itself: the stream ends, the connection stays
        body["stream"] = True
        return self.endpoint.url("/completions"), body

    def _chunk(self, data: str) -> tuple[str, str | None]:
        """One event's JSON: the text and the finish reason of its first choice."""
        host = self.endpoint.host
        obj = self._json(data)
        choices = obj.get("choices") if isinstance(obj, dict) else None
        if not isinstance(choices, list):
            raise RemoteFault(f"{host} sent a malformed completion stream (an event without choices)")
        if not choices:
            return "", None  # e.g. a final usage event
        choice = choices[0]
        text = choice.get("text") if isinstance(choice, dict) else None
        if not isinstance(choice, dict) or not isinstance(text, (str, type(None))):
            raise RemoteFault(f"{host} sent a malformed completion stream (a choice without text)")
        finish = choice.get("finish_reason")
        return text or "", finish if isinstance(finish, str) else None
