"""Model proposals: the prompt that asks for a faster version of a function, and parsing what comes back.

Pure text in, candidates out; the server runs the model. A proposal is only a candidate: it goes through
the same verification, measurement and project tests as a rule's rewrite, and what failed is written into
the next round's prompt.

The def a proposal stands for is the one optimizer/functions.py's lookup names, and only a plain ``def``
(the prompt ends with one: a coroutine is never asked for or replaced); a proposal replaces it only where
a rule's rewrite could (optimizer/rules/engine.py's ``ReplaceFunction``), keeping its decorators.
"""

from __future__ import annotations

import ast
import textwrap

import libcst as cst
from slipstream.optimizer.functions import find_function, first_line
from slipstream.optimizer.rules import ReplaceFunction, Rewrite


def _original(source: str, qualname: str) -> ast.FunctionDef | None:
    """The def a proposal replaces. Raises SyntaxError when ``source`` does not parse."""
    node = find_function(ast.parse(source), qualname)
    # The prompt ends with a plain ``def`` line: the model writes a synchronous body, which must not
    # replace a coroutine.
    return node if isinstance(node, ast.FunctionDef) else None


def _text(source: str, node: ast.FunctionDef) -> str:
    lines = source.splitlines(keepends=True)
    return textwrap.dedent("".join(lines[first_line(node) - 1 : node.end_lineno]))


def function_source(source: str, qualname: str) -> str | None:
    node = _original(source, qualname)
    return None if node is None else _text(source, node)


def build_prompt(source: str, qualname: str, feedback: list[str], hints: list[str] | None = None) -> str | None:
    """A completion-style prompt that ends with the new ``def`` line, so the model writes only the body."""
    node = _original(source, qualname)
    if node is None:
        return None
    fn = _text(source, node)
    name = qualname.split(".")[-1]
    notes = [
        "# Rewrite for speed: same name, same parameters, same results, same exceptions.",
        "# Prefer better data structures (set, dict, deque, Counter), builtins (sum, any, sorted),",
        "# comprehensions and caching over clever tricks. Do not print, read files or use randomness.",
    ]
    for h in (hints or [])[:3]:
        notes.append(f"# Hint: {h}")
    for f in feedback[-4:]:
        notes.append(f"# A previous attempt failed: {f[:160]}")
    header = ast.unparse(node.args)
    return (
        "# Original version (slow):\n"
        f"{fn.rstrip()}\n\n\n" + "\n".join(notes) + f"\n# Faster version:\ndef {name}({header}):\n"
    )


def parse_proposal(source: str, qualname: str, completion: str) -> Rewrite | None:
    """The module with the function replaced by the model's version, if that version parses as a function
    of the same name and parameters; None otherwise."""
    original = _original(source, qualname)
    if original is None:
        return None
    name = qualname.split(".")[-1]
    header = ast.unparse(original.args)
    body_lines = []
    for line in completion.splitlines():
        if line.strip() and not line[0].isspace():
            break  # back at module level: the function ended
        body_lines.append(line)
    body = "\n".join(body_lines).rstrip()
    if not body.strip():
        return None
    new_fn = f"def {name}({header}):\n{body}\n"
    try:
        parsed = ast.parse(new_fn)
    except SyntaxError:
        return None
    fn = parsed.body[0]
    if not isinstance(fn, ast.FunctionDef) or ast.dump(fn.args) != ast.dump(original.args):
        return None
    try:
        new_node = cst.parse_statement(new_fn)
        module = cst.parse_module(source)
    except cst.ParserSyntaxError:
        return None
    assert isinstance(new_node, cst.FunctionDef)
    replace = ReplaceFunction(
        qualname,
        lambda old: new_node.with_changes(decorators=old.decorators, leading_lines=old.leading_lines),
    )
    replaced = module.visit(replace)
    if not replace.changed:
        return None
    return Rewrite("model", "local model proposal", replaced.code)
