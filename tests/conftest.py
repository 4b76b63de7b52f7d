"""Shared fixtures: the real server over stdio with the real default model, and a tiny FIM model."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
SHARED_RECIPE = ROOT.parent / "shared" / "recipes" / "tiny_fim_gguf.py"
SERVER_CMD = [sys.executable, "-m", "slipstream.server"]


# Servers started by the tests keep their telemetry and completion cache here, never in the user's.
TEST_CACHE_HOME = tempfile.mkdtemp(prefix="slipstream-test-cache-")


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["XDG_CACHE_HOME"] = TEST_CACHE_HOME
    return env


@pytest.fixture(scope="session")
def default_model_path() -> str:
    from slipstream.inference.model import default_model_path

    return default_model_path()


@pytest.fixture(scope="session")
def tiny_fim_model(tmp_path_factory) -> str:
    """A random-weight llama GGUF whose vocabulary has FIM tokens (257/258/259), written with `gguf`."""
    from tests.tiny_gguf import write

    path = tmp_path_factory.mktemp("models") / "tiny-fim.gguf"
    write(str(path))
    return str(path)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def plain(obj: Any) -> Any:
    """pygls hands untyped JSON objects over as namedtuples; tests compare plain dicts and lists."""
    if hasattr(obj, "_asdict"):
        return {k: plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


async def get_status(client: LanguageClient, uri: str | None = None) -> dict[str, Any]:
    result = await client.protocol.send_request_async("slipstream/getStatus", {"uri": uri} if uri else {})
    return plain(result)


async def wait_ready(client: LanguageClient, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = await get_status(client)
        if status["state"] in ("ready", "error"):
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"model not ready: {status}")
        await asyncio.sleep(0.1)


def capabilities() -> types.ClientCapabilities:
    return types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=True),
        general=types.GeneralClientCapabilities(position_encodings=[types.PositionEncodingKind.Utf16]),
    )


def open_doc(client: LanguageClient, uri: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
        )
    )


def change(client: LanguageClient, uri: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str):
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=start[0], character=start[1]),
                        end=types.Position(line=end[0], character=end[1]),
                    ),
                    text=text,
                )
            ],
        )
    )


def inline_params(uri: str, line: int, character: int, invoked: bool = False) -> types.InlineCompletionParams:
    kind = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(trigger_kind=kind),
    )


class Partials:
    """Collects slipstream/inlineCompletionPartial notifications with their arrival times."""

    def __init__(self, client: LanguageClient) -> None:
        self.items: list[tuple[float, dict[str, Any]]] = []

        @client.feature("slipstream/inlineCompletionPartial")
        def on_partial(params: Any) -> None:
            data = plain(params)
            self.items.append((time.perf_counter(), data))

    def clear(self) -> None:
        self.items.clear()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """llama-cpp-python's own OpenAI-compatible server (``python -m llama_cpp.server``) with the default model,
    on a loopback port; its output (uvicorn's access log, "Disconnected from client" lines) goes to ``log_path``."""

    ALIAS = "gemma3"  # the model name it serves (/v1/models)

    def __init__(self, model: str, log_path: Path, port: int | None = None, api_key: str | None = None) -> None:
        self.model, self.log_path, self.port, self.api_key = model, log_path, port or free_port(), api_key
        self.proc: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> LlamaServer:
        import subprocess
        import urllib.request

        args = [sys.executable, "-m", "llama_cpp.server", "--model", self.model, "--model_alias", self.ALIAS]
        args += ["--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048", "--n_threads", "2"]
        args += ["--interrupt_requests", "False"]  # only the client's disconnect may stop a running stream
        if self.api_key:
            args += ["--api_key", self.api_key]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        log.close()
        req = urllib.request.Request(f"{self.url}/v1/models")
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(req, timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"llama_cpp.server did not start:\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def stop(self, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


LLAMA_API_KEY = "sk-test-" + hashlib.sha256(os.urandom(16)).hexdigest()[:24]


@pytest.fixture(scope="session")
def llama_server(default_model_path, tmp_path_factory):
    """One real OpenAI-compatible server for the session; it wants ``LLAMA_API_KEY`` as a Bearer token."""
    pytest.importorskip("fastapi", reason="llama-cpp-python's server dependencies (dev extras)")
    pytest.importorskip("uvicorn")
    pytest.importorskip("sse_starlette")
    server = LlamaServer(
        default_model_path, tmp_path_factory.mktemp("llama-server") / "server.log", api_key=LLAMA_API_KEY
    )
    server.start()
    yield server
    server.stop()


def llama_server_binary() -> str | None:
    """llama.cpp's ``llama-server``: ``$LLAMA_SERVER``, else on PATH, else where scripts/build-llama-server.sh
    puts it. Never built by the tests (about 10 minutes on 2 cores): without one, its tests are skipped."""
    import shutil

    named = os.environ.get("LLAMA_SERVER")
    if named:
        return named if os.access(named, os.X_OK) else None
    found = shutil.which("llama-server")
    if found:
        return found
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    built = os.path.join(cache, "slipstream", "llama-server", "bin", "llama-server")
    return built if os.access(built, os.X_OK) else None


class LlamaCppServer(LlamaServer):
    """llama.cpp's own ``llama-server`` with a GGUF, one slot (so ``/slots`` shows the one generation), on a
    loopback port; its log goes to ``log_path``."""

    def __init__(self, binary: str, model: str, log_path: Path, alias: str, api_key: str | None = None) -> None:
        super().__init__(model, log_path, api_key=api_key)
        self.binary, self.alias = binary, alias

    def start(self, timeout: float = 90.0) -> LlamaCppServer:
        import subprocess
        import urllib.request

        args = [self.binary, "-m", self.model, "--alias", self.alias, "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["-t", "2", "-c", "2048", "-np", "1", "--slots"]
        if self.api_key:
            args += ["--api-key", self.api_key]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama-server exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"llama-server did not start:\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def slots(self) -> list[dict]:
        import json
        import urllib.request

        req = urllib.request.Request(f"{self.url}/slots")
        if self.api_key:
            req.add_header("Authorization", f"Bearer {self.api_key}")
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())


@pytest.fixture(scope="session")
def llamacpp_binary() -> str:
    binary = llama_server_binary()
    if binary is None:
        pytest.skip("no llama-server (set LLAMA_SERVER, put it on PATH, or run scripts/build-llama-server.sh)")
    return binary


@pytest.fixture(scope="session")
def llamacpp_server(llamacpp_binary, default_model_path, tmp_path_factory):
    """llama-server with the default model (no FIM tokens: /completion); wants ``LLAMA_API_KEY``."""
    d = tmp_path_factory.mktemp("llamacpp")
    server = LlamaCppServer(llamacpp_binary, default_model_path, d / "server.log", "gemma3", api_key=LLAMA_API_KEY)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def llamacpp_fim_server(llamacpp_binary, tiny_fim_model, tmp_path_factory):
    """llama-server with the tiny FIM model (/infill)."""
    d = tmp_path_factory.mktemp("llamacpp-fim")
    server = LlamaCppServer(llamacpp_binary, tiny_fim_model, d / "server.log", "tiny-fim")
    server.start()
    yield server
    server.stop()
