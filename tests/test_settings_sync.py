"""package.json's settings are the server's: the same keys, types, defaults and bounds (as ruff-vscode checks).

Every ``slipstream.*`` key in package.json is either a server setting (server/settings.py ``SPEC``) or one
the client alone reads (``CLIENT_ONLY_SETTINGS`` in client-vscode/src/protocol.ts), never both.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from slipstream.server.settings import BY_KEY, SPEC, Settings, parse_settings

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL_TS = ROOT / "client-vscode" / "src" / "protocol.ts"
JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", tuple: "array"}  # tuple: of strings


def package_settings() -> dict[str, dict[str, Any]]:
    package = json.loads((ROOT / "package.json").read_text(encoding="utf-8"))
    props = package["contributes"]["configuration"]["properties"]
    assert all(k.startswith("slipstream.") for k in props)
    return {k.removeprefix("slipstream."): v for k, v in props.items()}


def client_only() -> set[str]:
    text = PROTOCOL_TS.read_text(encoding="utf-8")
    m = re.search(r"export const CLIENT_ONLY_SETTINGS = \[([^\]]*)\] as const;", text)
    assert m, "protocol.ts declares CLIENT_ONLY_SETTINGS"
    return set(re.findall(r"'([^']+)'", m.group(1)))


def test_client_only_settings_are_listed_and_not_the_servers():
    only = client_only()
    assert only == {"pythonPath", "wheelDirectory", "debounceMs"}
    assert not only & set(BY_KEY)
    assert only <= set(package_settings())


def test_package_json_has_exactly_the_server_settings():
    server_keys = set(package_settings()) - client_only()
    assert server_keys == set(BY_KEY), (
        f"missing in package.json: {sorted(set(BY_KEY) - server_keys)}; "
        f"not server settings: {sorted(server_keys - set(BY_KEY))}"
    )


@pytest.mark.parametrize("spec", SPEC, ids=lambda s: s.key)
def test_types_defaults_and_bounds_match(spec):
    entry = package_settings()[spec.key]
    json_type = JSON_TYPES[spec.type]
    if spec.default is None:  # computed on the server: VS Code shows it empty and sends null
        assert entry["type"] == [json_type, "null"]
        assert entry["default"] is None
    else:
        assert entry["type"] == json_type
    if spec.type is tuple:  # a JSON array of strings, the server's tuple
        assert entry["items"] == {"type": "string"}
        assert entry["default"] == list(spec.default)
    elif spec.default is not None:
        assert entry["default"] == spec.default
        assert type(entry["default"]) is spec.type or (spec.type is float and type(entry["default"]) is int)
    assert entry.get("minimum") == spec.min
    assert entry.get("maximum") == spec.max
    assert tuple(entry["enum"]) == spec.choices if spec.choices else "enum" not in entry


def test_settings_defaults_come_from_the_spec():
    assert [f.name for f in fields(Settings)] == [s.field for s in SPEC]
    defaults = Settings()
    for s in SPEC:
        assert getattr(defaults, s.field) == (s.factory() if s.factory else s.default)


def test_the_section_vscode_sends_by_default_parses_to_the_defaults():
    """The whole section with package.json's defaults, nested as VS Code sends dotted keys, client-only keys too."""
    section: dict[str, Any] = {}
    for key, entry in package_settings().items():
        *groups, leaf = key.split(".")
        node = section
        for g in groups:
            node = node.setdefault(g, {})
        node[leaf] = entry["default"]
    assert parse_settings({"slipstream": section}) == (Settings(), [])
