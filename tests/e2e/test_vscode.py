"""The real extension in real VS Code (code-server in headless Chromium), with the real default model.

Builds the .vsix, installs it into code-server, lets it set up its private server environment, types a
partial line, sees the model's ghost text, accepts it with Tab and checks the saved file; then kills the
server process and sees the extension restart it (with a notification) and ghost text come back.
Screenshots are kept in e2e-artifacts/.
"""

from __future__ import annotations

import os
import subprocess

from tests.conftest import ROOT


def run(cmd: list[str], timeout: int, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def test_ghost_text_in_real_vscode_is_accepted_with_tab():
    setup = run(["sh", "scripts/e2e-setup.sh"], timeout=1800)
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    package = run(["npm", "run", "package"], timeout=600)
    assert package.returncode == 0, package.stdout[-3000:] + package.stderr[-3000:]
    vsix = ROOT / "dist" / "slipstream-0.1.0.vsix"
    assert vsix.is_file()
    artifacts = ROOT / "e2e-artifacts"
    env = {**os.environ, "ARTIFACTS": str(artifacts)}
    wheel_dir = ROOT / ".venv" / ".slipstream-wheel-dir"  # the portable llama-cpp-python wheel setup built
    if wheel_dir.is_file():
        env.setdefault("WHEEL_DIR", wheel_dir.read_text().strip())
    e2e = run(["node", "client-vscode/e2e/e2e.mjs", str(vsix)], timeout=900, env=env)
    log = e2e.stdout + e2e.stderr
    assert e2e.returncode == 0 and "E2E PASS" in e2e.stdout, log[-5000:]
    assert "status bar ready: Slipstream · gemma" in e2e.stdout, "the status bar shows the model as ready"
    assert (artifacts / "ghost.png").is_file() and (artifacts / "accepted.png").is_file()
    # The server process was killed: the extension restarted it with a notification, and ghost text came back.
    assert "restart notification shown" in e2e.stdout and "ghost text after restart" in e2e.stdout, log[-5000:]
