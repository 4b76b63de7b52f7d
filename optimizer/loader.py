"""Sandbox-side code shared by verification and measurement: load the original and the variant.

Standalone: both come from module sources executed in fresh namespaces. From a workspace: the original
is the real module imported from the workspace, and the variant's function (plus the imports its rewrite
added) is executed in a copy of that module's namespace, so both see the very same classes and helpers
and the captured inputs (pickles) load against them.
"""

LOADER = r"""
import ast, copy, importlib, pickle, sys

def _resolve(obj, parts):
    for part in parts:
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj

def _find(tree, parts):
    body, node = tree.body, None
    for part in parts:
        node = next(n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    and n.name == part)
        body = getattr(node, "body", [])
    return node

def variant_in(module, parts, source, in_place=False):
    # The variant's function (with the imports its rewrite added) defined against the module's globals:
    # in a copy of them, or installed in the module itself (in_place: for running the project's tests).
    tree = ast.parse(source)
    imports = [n for n in tree.body if isinstance(n, ast.Import)
               or (isinstance(n, ast.ImportFrom) and n.module != "__future__")]
    code = ast.Module(body=[*imports, _find(tree, parts)], type_ignores=[])
    ns = vars(module) if in_place and len(parts) == 1 else dict(vars(module))
    exec(compile(code, "<variant>", "exec"), ns)
    fn = ns[parts[-1]]
    if in_place and len(parts) > 1:
        setattr(_resolve(module, parts[:-1]), parts[-1], fn)
    return fn

def load_pair(p):
    parts = p["name"].split(".")
    if p.get("workspace"):  # on sys.path already (the sandbox's bootstrap)
        module = importlib.import_module(p["module"])
        original = _resolve(module, parts)
        variant = variant_in(module, parts, p["variant"])
    else:
        def load(src):
            ns = {"__name__": "__slipstream_target__"}
            exec(compile(src, "<module>", "exec"), ns)
            return _resolve(ns, parts)
        original, variant = load(p["original"]), load(p["variant"])
    inputs = [pickle.loads(x) if isinstance(x, bytes) else x for x in p["inputs"]]
    return original, variant, inputs
"""
