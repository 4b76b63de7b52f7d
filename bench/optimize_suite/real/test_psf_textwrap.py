import real_cases
from psf_textwrap import TextWrapper, dedent


def test_wrap_paragraphs():
    for seed, width in [(1, 60), (2, 72), (3, 40), (4, 100)]:
        text = real_cases.prose(250, seed)
        wrapper = TextWrapper(width=width)
        lines = wrapper.wrap(text)
        assert all(len(line) <= width for line in lines)
        assert " ".join(lines).split() == text.split() or any(len(w) > width for w in text.split())
    short = TextWrapper(width=30, max_lines=3, placeholder=" ...").wrap(real_cases.prose(80, 5))
    assert len(short) == 3 and short[-1].endswith("...")
    bullets = TextWrapper(width=50, initial_indent="- ", subsequent_indent="  ").wrap(real_cases.prose(60, 6))
    assert bullets[0].startswith("- ") and all(line.startswith("  ") for line in bullets[1:])


def test_dedent_snippets():
    for seed in range(8):
        block = real_cases.code_block(40, seed)
        out = dedent(block)
        assert any(line and not line[0].isspace() for line in out.splitlines())
        assert [line.strip() for line in out.splitlines()] == [line.strip() for line in block.splitlines()]
    assert dedent("\tx\n\ty\n") == "x\ny\n"
