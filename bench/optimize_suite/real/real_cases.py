"""The real-code part of the optimizer benchmark: which functions, their workloads' data, held-out inputs.

Every function here comes from a real program that was not written for the optimizer's rules: the
Python 3.11 standard library (PSF-2.0) and permissively licensed pure-Python packages from PyPI (BSD,
MIT), vendored into this folder unchanged (``psf_*.py``, ``pypi_*.py``; each file's header names its
source and licence, the licence texts are in ``LICENSES/``). Nothing is downloaded at run time.
pyperformance's benchmark programs are deliberately absent: they are kept for an independent check.

Each case has its own small pytest workload (``test_<module>.py::<test>``), realistic rather than
large, like a project's own tests. ``heldout(qualname)`` gives inputs the optimizer never sees (other
seeds and sizes, edge cases, error cases): the benchmark runs every offered variant on them, and a
difference from the original there counts as a wrong variant. Data helpers are deterministic (seeded).
"""

from __future__ import annotations

import io
import operator
import random
import string
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    module: str  # a vendored module in this folder
    qualname: str  # the function, or Class.method
    test: str  # the workload: a pytest node id relative to this folder
    kind: str  # what sort of code it is
    origin: str  # where it was copied from, and under which licence


CASES = [
    Case(
        "psf_textwrap",
        "TextWrapper._wrap_chunks",
        "test_psf_textwrap.py::test_wrap_paragraphs",
        "method, mutates its argument",
        "CPython 3.11 textwrap (PSF-2.0)",
    ),
    Case(
        "psf_textwrap",
        "dedent",
        "test_psf_textwrap.py::test_dedent_snippets",
        "text processing",
        "CPython 3.11 textwrap (PSF-2.0)",
    ),
    Case(
        "psf_difflib",
        "SequenceMatcher.find_longest_match",
        "test_psf_difflib.py::test_diff_versions",
        "method of a class without __eq__",
        "CPython 3.11 difflib (PSF-2.0)",
    ),
    Case(
        "psf_heapq",
        "_siftup",
        "test_psf_heapq.py::test_priority_queue",
        "numeric kernel, mutates its argument",
        "CPython 3.11 heapq, pure-Python (PSF-2.0)",
    ),
    Case(
        "psf_heapq",
        "merge",
        "test_psf_heapq.py::test_merge_sorted_runs",
        "generator",
        "CPython 3.11 heapq, pure-Python (PSF-2.0)",
    ),
    Case(
        "psf_bisect",
        "insort_right",
        "test_psf_bisect.py::test_leaderboard",
        "binary search, mutates its argument",
        "CPython 3.11 bisect, pure-Python (PSF-2.0)",
    ),
    Case(
        "psf_json_decoder",
        "py_scanstring",
        "test_psf_json_decoder.py::test_scan_strings",
        "parsing",
        "CPython 3.11 json.decoder (PSF-2.0)",
    ),
    Case(
        "psf_graphlib",
        "TopologicalSorter.static_order",
        "test_psf_graphlib.py::test_build_order",
        "generator method, graph search, __slots__ class without __eq__",
        "CPython 3.11 graphlib (PSF-2.0)",
    ),
    Case(
        "psf_functools_c3",
        "_c3_merge",
        "test_psf_functools_c3.py::test_linearize_layers",
        "graph merge, mutates its argument",
        "CPython 3.11 functools (PSF-2.0)",
    ),
    Case(
        "psf_fnmatch",
        "translate",
        "test_psf_fnmatch.py::test_ignore_patterns",
        "text processing",
        "CPython 3.11 fnmatch (PSF-2.0)",
    ),
    Case(
        "psf_posixpath",
        "normpath",
        "test_psf_posixpath.py::test_normalize_paths",
        "text processing",
        "CPython 3.11 posixpath, pure-Python normpath (PSF-2.0)",
    ),
    Case(
        "psf_statistics",
        "correlation",
        "test_psf_statistics.py::test_correlations",
        "numeric",
        "CPython 3.11 statistics (PSF-2.0)",
    ),
    Case(
        "psf_base64",
        "_85encode",
        "test_psf_base64.py::test_b85_roundtrip",
        "numeric kernel over bytes",
        "CPython 3.11 base64 (PSF-2.0)",
    ),
    Case(
        "psf_pprint",
        "PrettyPrinter._safe_repr",
        "test_psf_pprint.py::test_format_configs",
        "recursive method, mutates its argument",
        "CPython 3.11 pprint (PSF-2.0)",
    ),
    Case(
        "pypi_pygments_regexopt",
        "regex_opt_inner",
        "test_pypi_pygments_regexopt.py::test_keyword_regexes",
        "recursive",
        "Pygments 2.21.0 pygments/regexopt.py (BSD-2-Clause)",
    ),
    Case(
        "pypi_parso_split_lines",
        "split_lines",
        "test_pypi_parso_split_lines.py::test_split_sources",
        "text processing",
        "parso 0.8.7 parso/utils.py (MIT)",
    ),
    Case(
        "pypi_idna_intranges",
        "intranges_from_list",
        "test_pypi_idna_intranges.py::test_codepoint_ranges",
        "numeric",
        "idna 3.20 idna/intranges.py (BSD-3-Clause)",
    ),
    Case(
        "pypi_mdurl_encode",
        "encode",
        "test_pypi_mdurl_encode.py::test_encode_links",
        "text processing with a module-level cache",
        "mdurl 0.1.2 mdurl/_encode.py (MIT)",
    ),
]


# ── deterministic data for the workloads and the held-out inputs ───────────────────────────────────


def vocabulary(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(1, 10))) for _ in range(n)]


def prose(words: int, seed: int) -> str:
    """Sentences of made-up words, with punctuation and the odd very long word."""
    rng = random.Random(seed)
    vocab = vocabulary(300, seed)
    out = []
    for i in range(words):
        w = rng.choice(vocab)
        if rng.random() < 0.01:
            w = w * 12  # a long token (a URL, a hash) that has to be broken
        if i % rng.randint(6, 14) == 0:
            w = w.capitalize()
        out.append(w + (rng.choice([".", ",", ";", "!"]) if rng.random() < 0.12 else ""))
    return " ".join(out)


def code_block(lines: int, seed: int, indent: str = "    ") -> str:
    rng = random.Random(seed)
    vocab = vocabulary(80, seed)
    out = []
    depth = 1
    for _ in range(lines):
        if rng.random() < 0.08:
            out.append("")
            continue
        depth = max(1, min(4, depth + rng.choice([-1, 0, 0, 1])))
        out.append(indent * depth + " = ".join(rng.sample(vocab, 2)) + f"({rng.randint(0, 99)})")
    return "\n".join(out) + "\n"


def document(lines: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    vocab = vocabulary(120, seed)
    return [" ".join(rng.choices(vocab, k=rng.randint(2, 9))) + "\n" for _ in range(lines)]


def edited(doc: list[str], seed: int, edits: int) -> list[str]:
    """A later version of a document: lines changed, inserted and deleted."""
    rng = random.Random(seed)
    out = list(doc)
    for _ in range(edits):
        i = rng.randrange(len(out) + 1)
        r = rng.random()
        if r < 0.4 and i < len(out):
            out[i] = out[i].upper()
        elif r < 0.7:
            out.insert(i, f"inserted line {rng.randint(0, 999)}\n")
        elif i < len(out):
            del out[i]
    return out


def dependency_graph(n: int, seed: int, fanin: int = 3) -> dict[str, list[str]]:
    """Packages and the packages each needs (always earlier ones: no cycles)."""
    rng = random.Random(seed)
    names = [f"pkg{i:03d}" for i in range(n)]
    return {names[i]: rng.sample(names[:i], min(i, rng.randint(0, fanin))) for i in range(n)}


def glob_patterns(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    stems = vocabulary(40, seed)
    shapes = [
        "*.{e}",
        "{s}*",
        "{s}/*.{e}",
        "[!.]*{s}",
        "{s}?.{e}",
        "[a-m]*.{e}",
        "*{s}*",
        "[0-9][0-9]-{s}.{e}",
        "{s}[_-]*",
        "**/{s}.{e}",
    ]
    exts = ["py", "txt", "log", "json", "c", "h", "md"]
    return [rng.choice(shapes).format(s=rng.choice(stems), e=rng.choice(exts)) for _ in range(n)]


def messy_paths(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    parts = [*vocabulary(30, seed), ".", "..", "", "."]
    out = []
    for _ in range(n):
        p = "/".join(rng.choice(parts) for _ in range(rng.randint(1, 12)))
        out.append(rng.choice(["", "/", "//", "///"]) + p)
    return out


def series(n: int, seed: int, noise: float = 1.0) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    xs = [rng.uniform(0, 100) for _ in range(n)]
    slope = rng.uniform(-3, 3)
    return xs, [slope * x + rng.gauss(0, noise * 10) for x in xs]


def payload(n: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.choice([0, 0, 32, rng.randrange(256)]) for _ in range(n))


def nested_config(depth: int, width: int, seed: int) -> dict:
    rng = random.Random(seed)
    vocab = vocabulary(50, seed)

    def node(d: int):
        if d == 0:
            return rng.choice([rng.randint(-(10**6), 10**6), rng.random(), rng.choice(vocab), None, True, b"\x00ab"])
        kind = rng.random()
        if kind < 0.5:
            return {rng.choice(vocab): node(d - 1) for _ in range(width)}
        if kind < 0.8:
            return [node(d - 1) for _ in range(width)]
        return tuple(node(d - 1) for _ in range(width)) if kind < 0.9 else {rng.randint(0, 99) for _ in range(width)}

    return {f"section{i}": node(depth) for i in range(width)}


def keywords(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    base = vocabulary(n, seed)
    prefixes = ["", "", "re", "un", "pre", "is", "get_", "set_"]
    return sorted({rng.choice(prefixes) + w for w in base})


def source_text(lines: int, seed: int) -> str:
    """Python-like source with mixed line endings, form feeds and other characters str.splitlines breaks on."""
    rng = random.Random(seed)
    vocab = vocabulary(60, seed)
    ends = ["\n", "\n", "\n", "\r\n", "\r"]
    odd = ["\f", "\x0b", "\x1c", "\u2028", "\x85"]
    out = []
    for _ in range(lines):
        line = "    " * rng.randint(0, 3) + " ".join(rng.choices(vocab, k=rng.randint(0, 8)))
        if rng.random() < 0.1:
            line += rng.choice(odd) + rng.choice(vocab)
        out.append(line + rng.choice(ends))
    return "".join(out)


def codepoint_sets(seed: int) -> list[list[int]]:
    """Codepoints of a few character classes, as a table generator (idna's own use) would collect them."""
    rng = random.Random(seed)
    lo = rng.randrange(0, 0x3000)
    span = range(lo, lo + 6000)
    return [
        [c for c in span if chr(c).isalpha()],
        [c for c in span if chr(c).isdigit()],
        [c for c in span if chr(c).isupper()],
        [c for c in span if chr(c).isspace() or chr(c) in string.punctuation],
    ]


def links(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    vocab = vocabulary(50, seed)
    extra = ["é", "ß", "日本", "%20", "%zz", " ", "<", ">", '"', "😀", "#frag", "?q=a&b=c", "%E2%82%AC"]
    out = []
    for _ in range(n):
        path = "/".join(rng.choice(vocab + extra) for _ in range(rng.randint(1, 6)))
        out.append(f"https://{rng.choice(vocab)}.example/{path}")
    return out


# ── held-out inputs: (args, kwargs) pairs the optimizer never sees ─────────────────────────────────


def heldout(qualname: str) -> list[tuple[tuple, dict]]:
    """Inputs for ``qualname`` the optimizer never saw. Imports the vendored modules (from wherever this
    folder was copied to, so instances pickle as that copy's classes)."""
    import psf_base64
    import psf_difflib
    import psf_graphlib
    import psf_pprint
    import psf_textwrap

    def wrap_case(text: str, **kw):
        w = psf_textwrap.TextWrapper(**kw)
        return (w, w._split_chunks(text))

    def matcher(a, b, **kw):
        return psf_difflib.SequenceMatcher(None, a, b, **kw)

    def heap(xs: list, replace_root):
        h = sorted(xs)
        if h:
            h[0] = replace_root
        return h

    psf_base64.b85encode(b"")  # builds the module's tables
    chars, chars2 = psf_base64._b85chars, psf_base64._b85chars2
    doc = document(60, 501)
    pp = psf_pprint.PrettyPrinter(width=40, stream=io.StringIO())
    pp_unsorted = psf_pprint.PrettyPrinter(sort_dicts=False, underscore_numbers=True, stream=io.StringIO())
    xs, ys = series(80, 502)
    table: dict[str, list[tuple]] = {
        "TextWrapper._wrap_chunks": [
            wrap_case(prose(400, 503), width=45),
            wrap_case(prose(120, 504), width=20, break_long_words=False, initial_indent="* ", subsequent_indent="  "),
            wrap_case(prose(200, 505), width=30, max_lines=4, placeholder=" [...]"),
            wrap_case("", width=10),
            wrap_case("a" * 95, width=7),
            wrap_case("word  with   gaps\tand tabs", width=5, drop_whitespace=False),
            wrap_case("x", width=0),
        ],
        "dedent": [
            (code_block(50, 506),),
            (code_block(30, 507, indent="\t"),),
            ("",),
            ("  a\n \tb\n  c",),
            ("    x\n\n   \n    y\n",),
            ("no indent\n    here",),
        ],
        "SequenceMatcher.find_longest_match": [
            (matcher(doc, edited(doc, 508, 12)),),
            (matcher(doc, edited(doc, 509, 30)), 5, 50, 0, 40),
            (matcher("the quick brown fox" * 5, "a quick brown dog" * 5),),
            (matcher("", "abc"),),
            (matcher(" abcd", "abcd abcd", autojunk=False), 0, 5, 0, 9),
            (matcher(list(range(300)) * 2, list(range(150, 450)) * 2),),
        ],
        "_siftup": [
            (heap(list(range(0, 400, 3)), 10**6), 0),
            (heap([5, 1, 9, 3], 7), 0),
            ([(2, "b"), (1, "a"), (3, "c")], 0),
            ([1.5, 1, True, 2], 1),
            ([4], 0),
        ],
        "merge": [
            ([1, 4, 9], [2, 3, 10], [], [0, 11]),
            (sorted(range(0, 300, 7)), sorted(range(0, 300, 5))),
            (),
            ([(1, "z"), (3, "a")], [(2, "m")]),
        ],
        "insort_right": [
            (list(range(0, 200, 2)), 51),
            ([], 3),
            ([1, 2, 2, 2, 3], 2),
            ([1.0, 2.0], 1),
            (["apple", "kiwi"], "banana"),
        ],
        "py_scanstring": [
            ('"plain text"', 1),
            ('"esc \\" \\\\ \\/ \\b\\f\\n\\r\\t"', 1),
            ('"\\u00e9\\ud83d\\ude00 and \\u2603"', 1),
            ('x"unterminated', 2),
            ('"tab\there"', 1),
            ('"bad \\q escape"', 1),
            ('"" tail', 1),
        ],
        "TopologicalSorter.static_order": [
            (psf_graphlib.TopologicalSorter(dependency_graph(150, 510)),),
            (psf_graphlib.TopologicalSorter({}),),
            (psf_graphlib.TopologicalSorter({"a": ["b"], "b": ["c"], "c": ["a"]}),),
            (psf_graphlib.TopologicalSorter({1: [2, 3], 2: [3], 4: []}),),
        ],
        "_c3_merge": [
            ([["D", "B", "A", "O"], ["D", "C", "A", "O"], ["B", "C"]],),
            ([["X", "Y"], ["Y", "X"]],),
            ([],),
            ([[1], [], [1, 2]],),
            ([[str, object], [int, object], [str, int]],),
        ],
        "translate": [
            ("*.py",),
            ("[!a-c]x?",),
            ("[]]",),
            ("[z-a]",),
            ("[!]",),
            ("a**b*",),
            ("[a-c-e-g]",),
            ("[[&&~~||]]",),
            ("",),
        ],
        "normpath": [
            (p,) for p in ["", ".", "//a//b/", "///a/../b", "a/./b/../../..", "../x/..", b"/usr//lib/./x/..", "é/./ü"]
        ],
        "correlation": [
            (xs, ys),
            ([1, 2, 3], [1, 2, 3]),
            ([1, 2, 3], [3, 2, 1.5]),
            ([1, 1, 1], [1, 2, 3]),
            ([1], [2]),
            ([1, 2], [1, 2, 3]),
        ],
        "_85encode": [
            (payload(403, 511), chars, chars2),
            (payload(64, 512), chars, chars2, True),
            (b"", chars, chars2),
            (b"\x00\x00\x00\x00    x", chars, chars2, False, True, True),
            (bytearray(b"abc"), chars, chars2),
        ],
        "PrettyPrinter._safe_repr": [
            (pp, nested_config(3, 4, 513), {}, None, 0),
            (pp, nested_config(4, 3, 514), {}, 2, 0),
            (pp_unsorted, {"b": 1_000_000, "a": [1.5, None]}, {}, None, 0),
            (pp, [], {}, None, 0),
            (pp, {3: "x", "y": 2}, {}, None, 0),
        ],
        "regex_opt_inner": [
            (keywords(120, 515), "("),
            (["", "a", "ab", "abc"], "(?:"),
            (["a", "b", "c"], ""),
            ([], "("),
            (["a-b", "a]b", "a^b"], "("),
        ],
        "split_lines": [
            (source_text(60, 516),),
            (source_text(30, 517), True),
            ("",),
            ("", True),
            ("a\r\nb\rc\n", True),
            ("\f\x0b\n\u2028", True),
        ],
        "intranges_from_list": [
            *((cs,) for cs in codepoint_sets(518)),
            ([],),
            ([7],),
            ([3, 1, 2, 2, 10],),
        ],
        "encode": [
            (links(30, 519)[0],),
            ("%41%zz%4",),
            ("a\ud800b\ud83d\ude00c",),
            ("",),
            ("space here", "-_.!~*'()"),
        ],
    }
    rows = [(args, {}) for args in table[qualname]]
    if qualname == "merge":
        rows += [(([5, 3, 1], [4, 2]), {"reverse": True}), ((["b", "A"], ["a", "C"]), {"key": str.lower})]
        rows += [(([(1, "x"), (2, "a")], [(1, "b")]), {"key": operator.itemgetter(0)})]
    if qualname == "insort_right":
        rows += [(([(1, "a"), (3, "c")], (2, "b")), {"key": operator.itemgetter(0)}), (([1, 2, 3], 0), {"hi": 2})]
    if qualname == "py_scanstring":
        rows += [(('"tab\there"', 1), {"strict": False})]
    if qualname == "encode":
        rows += [(("50% off, 100%",), {"keep_escaped": False})]
    return rows
