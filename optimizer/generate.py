"""More inputs for verification: hypothesis examples built from the function's type hints.

Run in the sandbox against the real module. Only plain functions whose positional parameters all have
hints qualify; each example is kept only when the original finishes on it within a short time (it may
raise: verification compares the exception types too). Derandomized, so runs repeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from optimizer.loader import LOADER
from optimizer.sandbox import Limits, run

_DRIVER = (
    LOADER
    + r"""
import inspect, signal, typing, warnings
p = PAYLOAD
parts = p["name"].split(".")
fn = _resolve(importlib.import_module(p["module"]), parts)
RESULT = {"inputs": [], "reason": ""}

def generate():
    if len(parts) > 1:
        return "a method: examples would need an instance"
    sig = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:
        return f"its type hints do not resolve ({exc})"
    params = list(sig.parameters.values())
    if any(q.kind not in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD) for q in params):
        return "it takes *args, **kwargs or keyword-only parameters"
    missing = [q.name for q in params if q.name not in hints]
    if missing or not params:
        return "no type hints on " + ", ".join(missing) if missing else "no parameters"
    from hypothesis import HealthCheck, Phase, given, settings, strategies as st

    def too_slow(*_):
        raise TimeoutError

    signal.signal(signal.SIGALRM, too_slow)
    seen, out = set(), RESULT["inputs"]

    @settings(max_examples=p["n"], database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(st.tuples(*[st.from_type(hints[q.name]) for q in params]))
    def collect(args):
        try:
            blob = pickle.dumps((args, {}))
        except Exception:
            return
        if blob in seen:
            return
        signal.setitimer(signal.ITIMER_REAL, p["per_call_s"])
        try:
            fn(*copy.deepcopy(args))
        except TimeoutError:
            return
        except BaseException:
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        seen.add(blob)
        out.append(blob)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            collect()
        except Exception as exc:
            return f"hypothesis could not build examples ({type(exc).__name__}: {str(exc)[:120]})"
    return ""

RESULT["reason"] = generate()
"""
)


@dataclass
class Generated:
    inputs: list[bytes] = field(default_factory=list)
    reason: str = ""  # why none were generated


def generate_inputs(
    workspace: str, module: str, name: str, n: int = 40, per_call_s: float = 0.25, limits: Limits | None = None
) -> Generated:
    payload = {"workspace": workspace, "module": module, "name": name, "n": n, "per_call_s": per_call_s}
    res = run(_DRIVER, payload, limits or Limits(seconds=60), workspace=workspace)
    if not res.ok:
        return Generated(reason=f"generating examples failed in the sandbox: {res.reason}")
    return Generated(res.value["inputs"], res.value["reason"])
