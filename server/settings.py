"""User settings, from initializationOptions or workspace/didChangeConfiguration.

``SPEC`` is the one list of server settings: the key a client sends, the ``Settings`` field it sets, its
type, default and bounds. ``Settings`` takes its defaults from it, and the VS Code extension's
``package.json`` is checked against it (tests/test_settings_sync.py).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from slipstream.inference.model import ModelConfig, default_threads
from slipstream.inference.remote import ENGINES, FIM_TEMPLATES, REMOTE_ENGINES, RemoteConfig

MODES = ("auto", "acceleration", "exploration")


@dataclass(frozen=True)
class Setting:
    key: str  # as the client sends it; in VS Code "slipstream." + key (dotted keys arrive as nested objects)
    field: str  # the Settings attribute
    type: type  # bool, int, float, str, or tuple: a list of strings (package.json: an array of strings)
    default: Any  # None: computed on the server by ``factory`` (a client sends null or nothing)
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None
    factory: Callable[[], Any] | None = None


SPEC: tuple[Setting, ...] = (
    Setting("enable", "enable", bool, True),
    Setting("modelPath", "model_path", str, ""),
    Setting("modelDirectories", "model_directories", tuple, ()),
    Setting("mode", "mode", str, "auto", choices=MODES),
    Setting("maxLines", "max_lines", int, 8, 1, 200),
    Setting("maxTokens", "max_tokens", int, 128, 1, 2048),
    Setting("timeBudgetMs", "time_budget_ms", int, 2000, 10, 60000),
    Setting("threads", "threads", int, None, 1, 256, factory=default_threads),
    Setting("contextSize", "context_size", int, 2048, 256, 131072),
    Setting("engine", "engine", str, "local", choices=ENGINES),
    Setting("endpoint", "endpoint", str, "http://127.0.0.1:8080"),
    Setting("model", "remote_model", str, ""),
    Setting("fimTemplate", "fim_template", str, "", choices=FIM_TEMPLATES),
    Setting("requestTimeoutMs", "request_timeout_ms", int, 30000, 100, 600000),
    Setting("apiKeyEnv", "api_key_env", str, ""),
    Setting("caBundle", "ca_bundle", str, ""),
    Setting("fallbackToLocal", "fallback_to_local", bool, False),
    Setting("telemetry", "telemetry", bool, True),
    Setting("storagePath", "storage_path", str, ""),
    Setting("cache", "cache", bool, True),
    Setting("speculate", "speculate", bool, True),
    Setting("projectContext", "project_context", bool, False),
    Setting("tokenHealing", "token_healing", bool, True),
    Setting("optimizer.enabled", "optimizer_enabled", bool, True),
    Setting("optimizer.workload", "optimizer_workload", str, ""),
    Setting("optimizer.minSpeedup", "min_speedup", float, 1.10, 1.0, 100.0),
    Setting("optimizer.modelProposals", "model_proposals", bool, True),
    Setting("optimizer.timeLimit", "optimizer_time_limit", int, 120, 1, 3600),
)
BY_KEY: dict[str, Setting] = {s.key: s for s in SPEC}
_BY_FIELD: dict[str, Setting] = {s.field: s for s in SPEC}
_GROUPS = {s.key.split(".", 1)[0] for s in SPEC if "." in s.key}  # "optimizer": sent nested by VS Code


def _default(name: str) -> Any:
    s = _BY_FIELD[name]
    return dataclasses.field(default_factory=s.factory) if s.factory else dataclasses.field(default=s.default)


@dataclass(frozen=True)
class Settings:
    enable: bool = _default("enable")
    model_path: str = _default("model_path")
    model_directories: tuple[str, ...] = _default("model_directories")  # more folders "Select Model…" lists
    mode: str = _default("mode")
    max_lines: int = _default("max_lines")
    max_tokens: int = _default("max_tokens")
    time_budget_ms: int = _default("time_budget_ms")
    threads: int = _default("threads")  # the number of cores, at most 8
    context_size: int = _default("context_size")  # the prompt budget (about 1,500 tokens at most) plus generation
    engine: str = _default("engine")  # local: llama.cpp here; openai / llamacpp: a team's server (README)
    endpoint: str = _default("endpoint")  # the server's URL (remote engines); nothing else is ever contacted
    remote_model: str = _default("remote_model")  # the server's model name; empty: the first it lists
    fim_template: str = _default("fim_template")  # empty: FIM through the request's suffix; else a named layout
    request_timeout_ms: int = _default("request_timeout_ms")  # connect, and each wait for the next bytes
    api_key_env: str = _default("api_key_env")  # the NAME of an environment variable with the key (never logged)
    ca_bundle: str = _default("ca_bundle")  # a PEM file of extra trusted CAs for an https endpoint (a company CA)
    fallback_to_local: bool = _default("fallback_to_local")  # remote down: complete with the local model meanwhile
    telemetry: bool = _default("telemetry")  # local only: counters in storage_path, never sent anywhere
    storage_path: str = _default("storage_path")  # empty: $XDG_CACHE_HOME/slipstream or ~/.cache/slipstream
    cache: bool = _default("cache")  # completions for identical contexts, in memory and on disk (bounded)
    speculate: bool = _default("speculate")  # compute the suggestion after the shown one while the model is idle
    project_context: bool = _default("project_context")  # jedi signatures/members ahead of the prompt (README)
    token_healing: bool = _default("token_healing")  # the local engine rewrites the token cut at the cursor
    optimizer_enabled: bool = _default("optimizer_enabled")  # "Optimize this function" actions, profile lenses
    optimizer_workload: str = _default("optimizer_workload")  # pytest id/path, script, "-m module"; empty: tests
    min_speedup: float = _default("min_speedup")  # a variant is offered only when its speedup's 95 % CI is above
    model_proposals: bool = _default("model_proposals")  # after the rules, ask the local model (verified alike)
    optimizer_time_limit: int = _default("optimizer_time_limit")  # seconds for one run of the user's workload

    def storage_dir(self) -> str:
        if self.storage_path:
            return os.path.expanduser(self.storage_path)
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "slipstream")

    def model_config(self) -> ModelConfig:
        return ModelConfig(path=self.model_path or None, n_threads=self.threads, n_ctx=self.context_size)

    def fallback_config(self) -> ModelConfig | None:
        """The local model served while a remote engine is down (``fallbackToLocal``), else None."""
        return self.model_config() if self.fallback_to_local and self.engine in REMOTE_ENGINES else None

    def engine_config(self) -> ModelConfig | RemoteConfig:
        """What the host loads: a local model, or the remote engine's connection."""
        if self.engine in REMOTE_ENGINES:
            return RemoteConfig(
                self.endpoint,
                self.remote_model,
                self.fim_template,
                self.request_timeout_ms,
                self.api_key_env,
                self.context_size,
                self.engine,
                self.ca_bundle,
            )
        return self.model_config()


def _check_spec() -> None:
    """``SPEC`` and ``Settings`` name the same fields, in order, with the same types; defaults fit the bounds."""
    fields = dataclasses.fields(Settings)
    if [f.name for f in fields] != [s.field for s in SPEC] or len(BY_KEY) != len(SPEC):
        raise TypeError("server/settings.py: Settings fields and SPEC differ")
    for f in fields:
        s = _BY_FIELD[f.name]
        if f.type.partition("[")[0] != s.type.__name__:
            raise TypeError(f"server/settings.py: Settings.{f.name} is {f.type}, SPEC says {s.type.__name__}")
        if s.default is None:
            if s.factory is None:
                raise TypeError(f"server/settings.py: {s.key} has neither a default nor a factory")
            continue
        _, problems = parse_settings({s.key: s.default})
        if type(s.default) is not s.type or problems:
            raise TypeError(f"server/settings.py: the default of {s.key} is not a valid value: {problems}")


_KINDS = {bool: "a boolean", int: "an integer", str: "a string", float: "a number", tuple: "a list of strings"}


def parse_settings(raw: Any, base: Settings | None = None) -> tuple[Settings, list[str]]:
    """Merge ``raw`` into ``base``; invalid values are reported and keep their old value.

    Accepts ``{"slipstream": {...}}`` (the VS Code section) or the flat section itself; dotted settings
    either flat (``"optimizer.enabled"``) or nested (``{"optimizer": {"enabled": ...}}``, as VS Code sends them).
    """
    base = base or Settings()
    problems: list[str] = []
    if raw is None:
        return base, problems
    if isinstance(raw, dict) and isinstance(raw.get("slipstream"), dict):
        raw = raw["slipstream"]
    if not isinstance(raw, dict):
        return base, [f"settings must be an object, got {type(raw).__name__}"]
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _GROUPS and isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    changes: dict[str, Any] = {}
    for key, value in flat.items():
        s = BY_KEY.get(key)
        if s is None or value is None:
            continue  # other extensions' or future settings are not an error; null keeps the value
        typ, lo, hi = s.type, s.min, s.max
        if typ is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if typ is tuple and isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = tuple(value)  # JSON's array of strings; frozen, as Settings is
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            problems.append(f"slipstream.{key} must be {_KINDS[typ]}, got {value!r}")
            continue
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            problems.append(f"slipstream.{key} must be between {lo:g} and {hi:g}, got {value!r}")
            continue
        if s.choices is not None and value not in s.choices:
            problems.append(f"slipstream.{key} must be one of {', '.join(s.choices)}, got {value!r}")
            continue
        changes[s.field] = value
    return replace(base, **changes), problems


_check_spec()


def model_changed(old: Settings, new: Settings) -> bool:
    return (old.engine_config(), old.fallback_config()) != (new.engine_config(), new.fallback_config())


__all__ = ["BY_KEY", "MODES", "SPEC", "Setting", "Settings", "model_changed", "parse_settings"]
