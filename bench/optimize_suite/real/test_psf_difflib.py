import real_cases
from psf_difflib import SequenceMatcher


def test_diff_versions():
    for seed in range(3):
        old = real_cases.document(120, seed)
        new = real_cases.edited(old, seed + 10, 15)
        sm = SequenceMatcher(None, old, new)
        blocks = sm.get_matching_blocks()
        assert sum(b.size for b in blocks) > len(old) // 2
        rebuilt = []
        for tag, i1, i2, j1, j2 in sm.get_opcodes():
            rebuilt.extend(old[i1:i2] if tag == "equal" else new[j1:j2])
        assert rebuilt == new
    title = SequenceMatcher(None, "Optimizer reach: real code", "Optimiser reach for real code")
    assert 0.7 < title.ratio() < 1
