"""Slipstream's own LSP vocabulary, declared once: custom methods, notifications, commands and their shapes.

The VS Code client mirrors this module in ``client-vscode/src/protocol.ts``; a test checks the two name
the same methods. Shapes are documented as TypedDicts (what goes over the wire, camelCase as sent).
"""

from __future__ import annotations

from typing import Any, TypedDict

# Notifications, server -> client.
PARTIAL = "slipstream/inlineCompletionPartial"  # InlineCompletionPartial: streamed ghost text
STATUS = "slipstream/status"  # Status: the model's state changed

# Requests, client -> server.
GET_STATUS = "slipstream/getStatus"  # {uri?} -> Status
STATS = "slipstream/stats"  # {} -> the local acceptance counters
LIST_MODELS = "slipstream/listModels"  # {} -> ModelList: the GGUF models on this machine (inference/discovery.py)

# workspace/executeCommand commands.
ACCEPTED = "slipstream.accepted"  # [itemId, acceptedChars?]: the client accepted a suggestion
OPTIMIZE_FUNCTION = "slipstream.optimizeFunction"  # [uri, line] -> OptimizeResult (optimizer/pipeline.py)
PROFILE = "slipstream.profile"  # [uri, workload?] -> Profile (optimizer/profile.py)

NOTIFICATIONS = (PARTIAL, STATUS)
REQUESTS = (GET_STATUS, STATS, LIST_MODELS)
COMMANDS = (ACCEPTED, OPTIMIZE_FUNCTION, PROFILE)


class Position(TypedDict):
    line: int
    character: int


class InlineCompletionPartial(TypedDict):
    uri: str
    version: int
    position: Position
    requestId: Any
    text: str
    done: bool


class Status(TypedDict, total=False):
    state: str  # starting, loading, ready, error, disabled
    detail: str
    model: dict[str, Any] | None
    enabled: bool
    busy: bool
    stats: dict[str, Any]
    cache: dict[str, Any] | None
    recent: list[dict[str, Any]]
    document: dict[str, Any] | None  # with {uri}: version, length, sha256 of the server's copy


class ModelEntry(TypedDict):
    name: str  # as its store names it (Ollama's name:tag, the hub's org/repo/file)
    path: str  # the value for slipstream.modelPath (the bundled default: its file; pick it as "")
    source: str  # default, huggingface, lmstudio, ollama or folder
    size: int  # bytes
    quantization: str | None
    architecture: str | None
    context_length: int | None
    fim: bool  # the vocabulary has fill-in-the-middle markers
    error: str | None  # why it cannot be used; None: usable


class ModelList(TypedDict):
    models: list[ModelEntry]  # the bundled default first
    notes: list[str]  # folders skipped or not found
