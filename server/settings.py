"""User settings, from initializationOptions or workspace/didChangeConfiguration."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

from slipstream.inference.model import ModelConfig, default_threads

# setting name (as the client sends it) -> (field name, type, minimum, maximum)
_SPEC: dict[str, tuple[str, type, float | None, float | None]] = {
    "enable": ("enable", bool, None, None),
    "modelPath": ("model_path", str, None, None),
    "mode": ("mode", str, None, None),
    "maxLines": ("max_lines", int, 1, 200),
    "maxTokens": ("max_tokens", int, 1, 2048),
    "timeBudgetMs": ("time_budget_ms", int, 10, 60000),
    "threads": ("threads", int, 1, 256),
    "contextSize": ("context_size", int, 256, 131072),
    "telemetry": ("telemetry", bool, None, None),
    "storagePath": ("storage_path", str, None, None),
    "cache": ("cache", bool, None, None),
    "speculate": ("speculate", bool, None, None),
    "projectContext": ("project_context", bool, None, None),
    "optimizer.enabled": ("optimizer_enabled", bool, None, None),
    "optimizer.workload": ("optimizer_workload", str, None, None),
    "optimizer.minSpeedup": ("min_speedup", float, 1.0, 100.0),
    "optimizer.modelProposals": ("model_proposals", bool, None, None),
    "optimizer.timeLimit": ("optimizer_time_limit", int, 1, 3600),
}
MODES = ("auto", "acceleration", "exploration")


@dataclass(frozen=True)
class Settings:
    enable: bool = True
    model_path: str = ""
    mode: str = "auto"
    max_lines: int = 8
    max_tokens: int = 128
    time_budget_ms: int = 2000
    threads: int = field(default_factory=default_threads)
    context_size: int = 2048  # the prompt budget (about 1,750 tokens at most) plus generation fits
    telemetry: bool = True  # local only: counters in storage_path, never sent anywhere
    storage_path: str = ""  # empty: $XDG_CACHE_HOME/slipstream or ~/.cache/slipstream
    cache: bool = True  # completions for identical contexts, in memory and on disk (bounded)
    speculate: bool = True  # compute the suggestion after the shown one while the model is idle
    project_context: bool = False  # jedi signatures/members ahead of the prompt (measured: see README)
    optimizer_enabled: bool = True  # "Optimize this function" code actions and profile code lenses
    optimizer_workload: str = ""  # pytest node id/path, script, or "-m module"; empty: tests importing the file
    min_speedup: float = 1.10  # a variant is offered only when its speedup's 95 % CI lies above this
    model_proposals: bool = True  # after the rules, ask the local model for variants (all verified alike)
    optimizer_time_limit: int = 120  # seconds for one run of the user's workload (capture, profile, tests)

    def storage_dir(self) -> str:
        if self.storage_path:
            return os.path.expanduser(self.storage_path)
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "slipstream")

    def model_config(self) -> ModelConfig:
        return ModelConfig(path=self.model_path or None, n_threads=self.threads, n_ctx=self.context_size)


def parse_settings(raw: Any, base: Settings | None = None) -> tuple[Settings, list[str]]:
    """Merge ``raw`` into ``base``; invalid values are reported and keep their old value.

    Accepts ``{"slipstream": {...}}`` (the VS Code section) or the flat section itself.
    """
    base = base or Settings()
    problems: list[str] = []
    if raw is None:
        return base, problems
    if isinstance(raw, dict) and isinstance(raw.get("slipstream"), dict):
        raw = raw["slipstream"]
    if not isinstance(raw, dict):
        return base, [f"settings must be an object, got {type(raw).__name__}"]
    if isinstance(raw.get("optimizer"), dict):  # VS Code sends dotted settings as nested objects
        raw = {
            **{k: v for k, v in raw.items() if k != "optimizer"},
            **{f"optimizer.{k}": v for k, v in raw["optimizer"].items()},
        }
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _SPEC:
            continue  # other extensions' or future settings: not an error
        name, typ, lo, hi = _SPEC[key]
        if value is None:
            continue
        if typ is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            kind = {bool: "a boolean", int: "an integer", str: "a string", float: "a number"}[typ]
            problems.append(f"slipstream.{key} must be {kind}, got {value!r}")
            continue
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            problems.append(f"slipstream.{key} must be between {lo:g} and {hi:g}, got {value!r}")
            continue
        if key == "mode" and value not in MODES:
            problems.append(f"slipstream.mode must be one of {', '.join(MODES)}, got {value!r}")
            continue
        changes[name] = value
    return replace(base, **changes), problems


def model_changed(old: Settings, new: Settings) -> bool:
    return old.model_config() != new.model_config()


__all__ = ["MODES", "Settings", "model_changed", "parse_settings"]
