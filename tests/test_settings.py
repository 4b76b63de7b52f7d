from __future__ import annotations

from slipstream.server.settings import Settings, model_changed, parse_settings


def test_parse_nested_and_flat():
    s, problems = parse_settings({"slipstream": {"maxLines": 3, "modelPath": "/m.gguf"}})
    assert (s.max_lines, s.model_path, problems) == (3, "/m.gguf", [])
    s, problems = parse_settings({"maxTokens": 10.0, "other.extension": 1})
    assert (s.max_tokens, problems) == (10, [])


def test_invalid_values_keep_the_old_value():
    base = Settings(max_lines=4)
    s, problems = parse_settings({"maxLines": True, "threads": -1, "mode": "x", "enable": "yes"}, base)
    assert s == base
    assert len(problems) == 4
    assert parse_settings([1, 2], base) == (base, ["settings must be an object, got list"])
    assert parse_settings(None, base) == (base, [])


def test_model_changed_only_for_model_settings():
    a = Settings()
    assert not model_changed(a, parse_settings({"maxLines": 2}, a)[0])
    assert model_changed(a, parse_settings({"contextSize": 4096}, a)[0])
    assert model_changed(a, parse_settings({"modelPath": "/x.gguf"}, a)[0])
