import ast
import io

import real_cases
from psf_pprint import PrettyPrinter


def test_format_configs():
    printer = PrettyPrinter(width=60, stream=io.StringIO())
    for seed in range(3):
        config = real_cases.nested_config(3, 4, seed)
        text = printer.pformat(config)
        assert ast.literal_eval(text) == config
        assert printer.isreadable(config)
    loop: list = [1, 2]
    loop.append(loop)
    assert printer.isrecursive(loop) and "Recursion" in printer.pformat(loop)
    assert PrettyPrinter(depth=1, stream=io.StringIO()).pformat({"a": {"b": 1}}) == "{'a': {...}}"
