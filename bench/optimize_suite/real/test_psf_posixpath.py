import posixpath

import real_cases
from psf_posixpath import normpath


def test_normalize_paths():
    for path in real_cases.messy_paths(600, 17):
        out = normpath(path)
        assert out == posixpath.normpath(path)
        assert normpath(out) == out
    assert normpath(b"/a//b/../c") == b"/a/c"
