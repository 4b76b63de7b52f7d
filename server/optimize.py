"""The optimizer's LSP features: code actions, the optimize and profile commands, inlay hints, code lenses.

The work happens in ``optimizer/`` on one background thread; this module turns requests into calls and
results into LSP objects. Variants and profiles are offered only for the exact text they were made for.

Model proposals come from the configured engine (the local model, or a remote one), with the last profile's
hot lines of the function when that profile was of this text. An optimize request that arrives while the
model is still loading (or connecting) waits for that load, saying so in its progress, rather than running
without proposals; when no model is ready after it, the result says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from lsprotocol import types
from lsprotocol.converters import get_converter
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import from_fs_path
from pygls.uris import to_fs_path as uri_to_path
from slipstream.inference.engine import Engine
from slipstream.optimizer.functions import FunctionSpan, function_at, function_spans, innermost
from slipstream.optimizer.model_proposals import engine_proposer
from slipstream.optimizer.pipeline import OptimizeResult, Proposer, Variant, optimize_function
from slipstream.optimizer.profile import FunctionStat, LineStat, profile_workload
from slipstream.optimizer.sandbox import Limits
from slipstream.optimizer.workload import parse_workload
from slipstream.server import methods
from slipstream.server.documents import Document, DocumentStore, index_to_units, line_starts
from slipstream.server.progress import Progress
from slipstream.server.settings import Settings


class OptimizerHost(Protocol):
    """What the optimizer features need from the server, and no more."""

    documents: DocumentStore
    settings: Settings
    progress: Progress

    def ready_engine(self) -> Engine | None: ...  # the completion engine when its model is ready

    def model_load(self) -> Awaitable[None] | None: ...  # the model load (or remote connection) under way, if any

    def model_detail(self) -> str: ...  # the model's state and detail, to say why no engine is ready

    def workspace_folder(self) -> str | None: ...

    def refresh_views(self) -> None: ...  # ask the client for new inlay hints and code lenses

    def client_previews_edits(self) -> bool: ...  # change annotations needing confirmation are honoured


HOT_FUNCTION_PERCENT = 2.0  # code lenses for functions at or above this share of the run
HOT_LINE_PERCENT = 1.0  # inlay hints for lines at or above this share (or 1 MB)


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


MODEL_ANNOTATION = "slipstream.modelVariant"


def edit_for(uri: str, variant: Variant, version: int | None = None) -> types.WorkspaceEdit:
    """The minimal edit. A model-written variant's edits carry a change annotation that needs confirmation,
    so the editor shows its refactor preview before anything changes (LSP 3.16 change annotations)."""

    def span(a: int, b: int) -> types.Range:
        return types.Range(start=types.Position(line=a, character=0), end=types.Position(line=b, character=0))

    if not variant.needs_review:
        return types.WorkspaceEdit(
            changes={uri: [types.TextEdit(range=span(a, b), new_text=text) for a, b, text in variant.edits]}
        )
    annotated: list[types.TextEdit | types.AnnotatedTextEdit] = [
        types.AnnotatedTextEdit(range=span(a, b), new_text=text, annotation_id=MODEL_ANNOTATION)
        for a, b, text in variant.edits
    ]
    return types.WorkspaceEdit(
        document_changes=[
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version), edits=annotated
            )
        ],
        change_annotations={
            MODEL_ANNOTATION: types.ChangeAnnotation(
                label="Model-written variant",
                needs_confirmation=True,
                description=f"{variant.title.removeprefix('Apply model variant — ')}: written by the model, "
                "checked against your function's behaviour and timed, but not proven — review it before applying",
            )
        },
    )


class OptimizerFeatures:
    def __init__(self, host: OptimizerHost) -> None:
        self.host = host
        # Verified variants per (uri, function), with the digest of the text they were made for.
        self.variants: dict[tuple[str, str], tuple[str, list[Variant]]] = {}
        # The last profile's hot lines and functions per file path, with the digest of the profiled text.
        self.hot_lines: dict[str, tuple[str, list[LineStat]]] = {}
        self.hot_functions: dict[str, tuple[str, list[FunctionStat]]] = {}
        self.hot_unit = "CPU"  # what a hot line's percentage is of
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slipstream-optimizer")
        # Each open document's functions, for its current version: editors ask for code actions on every
        # cursor move, and parsing a large file each time would be slow.
        self._spans: dict[str, tuple[Document, int, list[FunctionSpan]]] = {}

    # -- code actions ----------------------------------------------------------------------------
    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        doc = self.host.documents.get(uri)
        if doc is None or not self.host.settings.optimizer_enabled:
            return []
        cached = self._spans.get(uri)
        if cached is not None and cached[0] is doc and cached[1] == doc.version:
            spans = cached[2]
        else:
            spans = function_spans(doc.text)
            self._spans[uri] = (doc, doc.version, spans)
        qualname = innermost(spans, params.range.start.line)
        if qualname is None:
            return []
        actions = [
            types.CodeAction(
                title="Optimize this function",
                kind=types.CodeActionKind.RefactorRewrite,
                command=types.Command(
                    title="Optimize this function",
                    command=methods.OPTIMIZE_FUNCTION,
                    arguments=[uri, params.range.start.line],
                ),
            )
        ]
        made_for, variants = self.variants.get((uri, qualname), ("", []))
        # Only for the text they were verified against (hashed only when there is something to offer:
        # editors ask for code actions on every cursor move).
        if variants and made_for == text_digest(doc.text):
            previews = self.host.client_previews_edits()
            for v in variants:
                if v.needs_review and not previews:
                    continue  # the editor could not show the preview a model variant needs: listed in the result only
                actions.append(
                    types.CodeAction(
                        title=v.title, kind=types.CodeActionKind.RefactorRewrite, edit=edit_for(uri, v, doc.version)
                    )
                )
        return actions

    def forget(self, uri: str) -> None:
        """The document was closed."""
        self._spans.pop(uri, None)

    # -- the optimize command --------------------------------------------------------------------
    def _saved_file(self, uri: Any, what: str) -> tuple[Path, str]:
        if not isinstance(uri, str) or not uri.startswith("file://"):
            raise JsonRpcInvalidParams(f"{what} takes the file:// URI of a saved file")
        path = Path(uri_to_path(uri))
        if not path.is_file():
            raise JsonRpcInvalidParams(f"{path} is not a file on disk: save it first")
        try:
            disk = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise JsonRpcInvalidParams(f"cannot read {path} as UTF-8 Python source: {exc}") from exc
        doc = self.host.documents.get(uri)
        if doc is not None and doc.text != disk:
            raise JsonRpcInvalidParams("save the file first: the optimizer runs the code on disk")
        return path, disk

    async def optimize(self, uri: Any, line: Any) -> dict[str, Any]:
        if not isinstance(line, int) or isinstance(line, bool) or line < 0:
            raise JsonRpcInvalidParams(f"{methods.OPTIMIZE_FUNCTION} takes [uri, line] of a saved file")
        path, text = self._saved_file(uri, methods.OPTIMIZE_FUNCTION)
        qualname = function_at(text, line)
        if qualname is None:
            raise JsonRpcInvalidParams(f"no function at line {line + 1}")
        settings = self.host.settings
        root = self.workspace_root(path)
        workload = parse_workload(settings.optimizer_workload, root, str(path))
        async with self._progress(f"Optimizing {qualname}") as (report, cancel):
            proposer, no_proposer = await self._proposer(path, text, report, cancel)
            if cancel.is_set():
                result = OptimizeResult(qualname, error="cancelled")
            else:
                job = functools.partial(
                    optimize_function,
                    root,
                    str(path),
                    qualname,
                    workload,
                    min_speedup=settings.min_speedup,
                    proposer=proposer,
                    limits=Limits(seconds=settings.optimizer_time_limit),
                    no_proposer=no_proposer,
                )
                result = await asyncio.get_running_loop().run_in_executor(self.executor, job, report, cancel)
        self.variants[(uri, qualname)] = (text_digest(text), result.variants)
        out = result.as_json()
        doc = self.host.documents.get(uri)
        for v, data in zip(result.variants, out["variants"], strict=True):
            data["edit"] = get_converter().unstructure(edit_for(uri, v, doc.version if doc else None))
            del data["edits"]
        return out

    @contextlib.asynccontextmanager
    async def _progress(self, title: str) -> AsyncIterator[tuple[Callable[[str], None], threading.Event]]:
        """A cancellable ``$/progress``: its report function and the event its cancel button sets."""
        cancel = threading.Event()
        progress = self.host.progress
        token = await progress.begin(title, cancel=cancel)
        try:
            yield (lambda m: progress.report(token, m)), cancel
        except asyncio.CancelledError:
            cancel.set()
            raise
        finally:
            progress.end(token)

    async def _run(self, title: str, job: Any) -> Any:
        """Run ``job(report, cancel)`` on the optimizer thread with cancellable ``$/progress``."""
        async with self._progress(title) as (report, cancel):
            return await asyncio.get_running_loop().run_in_executor(self.executor, job, report, cancel)

    async def _proposer(
        self, path: Path, text: str, report: Callable[[str], None], cancel: threading.Event
    ) -> tuple[Proposer | None, str]:
        """The configured engine's proposer, after any load under way (a newer one too, if settings changed
        meanwhile); or None and why not ("" when model proposals are off)."""
        if not self.host.settings.model_proposals:
            return None, ""
        said = None
        while (load := self.host.model_load()) is not None and not cancel.is_set():
            if load is not said:
                report("waiting for the model to load (for model proposals)")
                said = load
            # Polled, so the progress's cancel button is honoured while the load runs on.
            await asyncio.wait({asyncio.ensure_future(load)}, timeout=0.25)
        engine = self.host.ready_engine()
        if engine is None:
            return None, f"no model is ready ({self.host.model_detail()})"
        digest, lines = self.hot_lines.get(str(path.resolve()), ("", []))
        return engine_proposer(engine, hot_lines=lines if digest == text_digest(text) else [], cancel=cancel), ""

    def workspace_root(self, path: Path) -> str:
        root = self.host.workspace_folder()
        if root and str(path.resolve()).startswith(str(Path(root).resolve())):
            return str(Path(root).resolve())
        return str(path.resolve().parent)

    # -- profiling: inlay hints on hot lines, code lenses on hot functions ---------------------------
    async def profile(self, uri: Any, workload_text: Any = None) -> dict[str, Any]:
        path, _ = self._saved_file(uri, methods.PROFILE)
        if workload_text is not None and not isinstance(workload_text, str):
            raise JsonRpcInvalidParams(f"{methods.PROFILE} takes [uri, workload?]; the workload is a string")
        root = self.workspace_root(path)
        text = workload_text if workload_text else self.host.settings.optimizer_workload
        workload = parse_workload(text, root, str(path))
        limits = Limits(seconds=self.host.settings.optimizer_time_limit, memory_bytes=4 << 30)
        prof = await self._run(
            f"Profiling {workload.describe()}",
            lambda report, cancel: profile_workload(root, workload, dataclasses.replace(limits, cancel=cancel)),
        )
        self.hot_lines.clear()
        self.hot_functions.clear()
        self.hot_unit = "CPU" if prof.tool == "scalene" else "time"  # the fallback times lines by the clock
        by_file_lines: dict[str, list[LineStat]] = {}
        for ln in prof.lines:
            by_file_lines.setdefault(ln.path, []).append(ln)
        by_file_funcs: dict[str, list[FunctionStat]] = {}
        for fn in prof.functions:
            by_file_funcs.setdefault(fn.path, []).append(fn)
        for p in set(by_file_lines) | set(by_file_funcs):
            try:
                digest = text_digest(Path(p).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                continue
            self.hot_lines[p] = (digest, by_file_lines.get(p, []))
            self.hot_functions[p] = (digest, by_file_funcs.get(p, []))
        self.host.refresh_views()
        out = prof.as_json()
        out["functions"] = [{**f, "uri": from_fs_path(f["path"])} for f in out["functions"][:20]]
        out["lines"] = len(prof.lines)
        return out

    def _current(self, uri: str, table: dict[str, tuple[str, list[Any]]]) -> list[Any]:
        doc = self.host.documents.get(uri)
        if doc is None:
            return []
        try:
            path = str(Path(uri_to_path(uri)).resolve())
        except Exception:
            return []
        digest, rows = table.get(path, ("", []))
        return rows if rows and digest == text_digest(doc.text) else []  # lines move when the text changes

    def inlay_hints(self, params: types.InlayHintParams) -> list[types.InlayHint]:
        doc = self.host.documents.get(params.text_document.uri)
        hints = []
        for ln in self._current(params.text_document.uri, self.hot_lines):
            line = ln.line - 1
            if doc is None or not (params.range.start.line <= line <= params.range.end.line):
                continue
            if ln.cpu_percent < HOT_LINE_PERCENT and ln.peak_mb < 1.0:
                continue
            parts = [f"{ln.cpu_percent:.0f} % {self.hot_unit}"] if ln.cpu_percent >= HOT_LINE_PERCENT else []
            if ln.peak_mb >= 1.0:
                parts.append(f"{ln.peak_mb:.0f} MB")
            if line >= len(line_starts(doc.text)):
                continue
            start, end = doc.line_bounds(line)
            character = index_to_units(doc.text[start:end], end - start, doc.encoding)
            hints.append(
                types.InlayHint(
                    position=types.Position(line=line, character=character),
                    label=" · ".join(parts),
                    padding_left=True,
                    tooltip="Slipstream profile of the last run",
                )
            )
        return hints

    def code_lenses(self, params: types.CodeLensParams) -> list[types.CodeLens]:
        uri = params.text_document.uri
        lenses: list[types.CodeLens] = []
        if not self.host.settings.optimizer_enabled:
            return lenses
        for fn in self._current(uri, self.hot_functions):
            if fn.cpu_percent < HOT_FUNCTION_PERCENT:
                continue
            line = fn.line - 1
            lenses.append(
                types.CodeLens(
                    range=types.Range(
                        start=types.Position(line=line, character=0), end=types.Position(line=line, character=0)
                    ),
                    command=types.Command(
                        title=f"⚡ {fn.cpu_percent:.0f} % of runtime — Optimize",
                        command=methods.OPTIMIZE_FUNCTION,
                        arguments=[uri, line],
                    ),
                )
            )
        return lenses
