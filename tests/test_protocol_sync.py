"""client-vscode/src/protocol.ts names exactly the methods, notifications and commands of server/methods.py,
and the client's other modules use those constants rather than their own string literals."""

from __future__ import annotations

import re
from pathlib import Path

from slipstream.server import methods

SRC = Path(__file__).resolve().parent.parent / "client-vscode" / "src"
PROTOCOL_TS = (SRC / "protocol.ts").read_text(encoding="utf-8")
ALL = methods.NOTIFICATIONS + methods.REQUESTS + methods.COMMANDS
SERVER_NAMES = {name: value for name, value in vars(methods).items() if name.isupper() and value in ALL}


def ts_constants() -> dict[str, str]:
    return dict(re.findall(r"^export const ([A-Z_]+) = '([^']*)';", PROTOCOL_TS, re.M))


def ts_group(name: str) -> tuple[str, ...]:
    m = re.search(rf"^export const {name} = \[([^\]]*)\] as const;", PROTOCOL_TS, re.M)
    assert m, f"protocol.ts declares {name}"
    consts = ts_constants()
    return tuple(consts[n.strip()] for n in m.group(1).split(",") if n.strip())


def test_every_server_method_has_the_same_constant_in_protocol_ts():
    assert SERVER_NAMES  # PARTIAL, STATUS, GET_STATUS, STATS, ACCEPTED, OPTIMIZE_FUNCTION, PROFILE
    consts = ts_constants()
    assert {n: consts.get(n) for n in SERVER_NAMES} == SERVER_NAMES


def test_the_groups_are_the_same():
    assert ts_group("NOTIFICATIONS") == methods.NOTIFICATIONS
    assert ts_group("REQUESTS") == methods.REQUESTS
    assert ts_group("COMMANDS") == methods.COMMANDS


def test_protocol_ts_names_no_other_custom_method():
    custom = set(re.findall(r"'(slipstream/[^']*)'", PROTOCOL_TS))
    assert custom == set(methods.NOTIFICATIONS + methods.REQUESTS)


def test_other_modules_use_protocol_ts():
    for path in sorted(SRC.glob("*.ts")):
        if path.name == "protocol.ts":
            continue
        text = path.read_text(encoding="utf-8")
        for value in SERVER_NAMES.values():
            assert f"'{value}'" not in text and f'"{value}"' not in text, f"{path.name} spells {value}"
        assert not re.search(r"triggerKind:[^,}\n]*\b[12]\b", text), f"{path.name} spells a trigger kind as a number"
