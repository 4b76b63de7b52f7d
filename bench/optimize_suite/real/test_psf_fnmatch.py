import re

import real_cases
from psf_fnmatch import translate


def test_ignore_patterns():
    names = [f"{w}.{e}" for w in real_cases.vocabulary(40, 15) for e in ("py", "txt", "json")]
    for pattern in real_cases.glob_patterns(150, 16):
        regex = re.compile(translate(pattern))
        matched = [n for n in names if regex.match(n)]
        if pattern.startswith("*.") and "[" not in pattern:
            assert matched == [n for n in names if n.endswith(pattern[1:])]
    assert re.match(translate("[!a-c]x?"), "dxy") and not re.match(translate("[!a-c]x?"), "axy")
