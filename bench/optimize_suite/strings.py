"""String building and text scanning."""

import re


def render_rows(rows):
    """A text table: one line per row, cells separated by ' | '."""
    text = ""
    for row in rows:
        text += " | ".join(str(c) for c in row) + "\n"
    return text


def count_vowels(text):
    n = 0
    for ch in text:
        if ch in ["a", "e", "i", "o", "u", "A", "E", "I", "O", "U"]:
            n += 1
    return n


def extract_numbers(lines):
    """Every integer in the lines, in order."""
    out = []
    for line in lines:
        for tok in re.findall(r"-?\d+", line):
            out.append(int(tok))
    return out


def slugify_all(titles):
    slugs = []
    for t in titles:
        slugs.append(re.sub(r"[^a-z0-9]+", "-", t.lower()).strip("-"))
    return slugs


def parse_kv(lines):
    """key = value lines into a dict; comments and blank lines skipped."""
    result = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        result[k.strip()] = v.strip()
    return result
