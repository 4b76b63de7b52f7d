import base64

import real_cases
from psf_base64 import b85encode


def test_b85_roundtrip():
    for seed, n in enumerate([0, 1, 3, 4, 17, 256, 1000, 2049]):
        data = real_cases.payload(n, seed)
        encoded = b85encode(data)
        assert encoded == base64.b85encode(data)
        assert base64.b85decode(encoded) == data
        assert b85encode(data, pad=True) == base64.b85encode(data, pad=True)
