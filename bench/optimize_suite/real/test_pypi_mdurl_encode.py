import urllib.parse

import real_cases
from pypi_mdurl_encode import ENCODE_COMPONENT_CHARS, encode


def test_encode_links():
    for link in real_cases.links(200, 20):
        out = encode(link)
        assert out.isascii() and " " not in out
        assert urllib.parse.unquote(out) == urllib.parse.unquote(link) or "%zz" in link or "\ud800" in link
    assert encode("a b/c", ENCODE_COMPONENT_CHARS) == "a%20b%2Fc"
    assert encode("%41%zz") == "%41%25zz"
