import json

import real_cases
from psf_json_decoder import JSONDecodeError, py_scanstring


def test_scan_strings():
    texts = real_cases.prose(400, 12).split(".") + ['quote " and \\ backslash', "tab\tnew\nline", "é ü 日本 😀"]
    for text in texts:
        encoded = json.dumps(text)
        assert py_scanstring(encoded, 1) == (text, len(encoded))
        ascii_only = json.dumps(text, ensure_ascii=True)
        assert py_scanstring(ascii_only + ", 1]", 1) == (text, len(ascii_only))
    try:
        py_scanstring('"never closed', 1)
    except JSONDecodeError as exc:
        assert "Unterminated" in str(exc)
    else:
        raise AssertionError("an unterminated string must be refused")
