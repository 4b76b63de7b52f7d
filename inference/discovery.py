"""Local model discovery: the GGUF models already on this machine, described from their headers alone.

Where it looks (``Stores.locate``):
- the Hugging Face hub cache ($HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub):
  ``models--ORG--NAME/snapshots/REV/…/*.gguf``, symlinks into ``blobs/``; shown as ``ORG/NAME/FILE``;
- LM Studio's models folder (~/.lmstudio/models, the folder ~/.lmstudio-home-pointer names, and the older
  ~/.cache/lm-studio/models): ``PUBLISHER/REPO/*.gguf``; shown as ``PUBLISHER/REPO/FILE``;
- Ollama's store ($OLLAMA_MODELS, ~/.ollama/models, /usr/share/ollama/.ollama/models): each manifest
  ``manifests/HOST/NAMESPACE/MODEL/TAG`` names its model layer's blob ``blobs/sha256-HEX`` (a GGUF without a
  .gguf extension); shown as ``MODEL:TAG`` (``NAMESPACE/MODEL:TAG`` outside the library);
- the user's folders (slipstream.modelDirectories), and the bundled default model, listed first.

Guarantees:
- Read-only, and only GGUF headers are read (inference/gguf_meta.py), never weights.
- Never raises for what it finds: a file that cannot be used is listed with ``error`` saying why (not a GGUF,
  truncated, corrupt, an Ollama blob missing); a folder that cannot be read is skipped and said in ``notes``.
- Symlink loops are cut (a folder is entered once, by device and inode), and the same file reached twice (the
  hub's snapshots link into blobs/, overlapping folders) is listed once, under the first place that found it.
- Bounded: folders at most ``MAX_DEPTH`` deep and ``MAX_DIRS`` folders per place; manifests at most 1 MiB.
- Not listed: files that are not language models (multimodal projectors, LoRA adapters) and the later parts
  of a split model (``…-00002-of-00003.gguf``: the first part stands for all, with their total size).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slipstream.inference.gguf_meta import GgufError, read_gguf
from slipstream.inference.model import ModelLoadError, default_model_path

SOURCES = ("default", "huggingface", "lmstudio", "ollama", "folder")
MAX_DEPTH = 8
MAX_DIRS = 20_000
MAX_MANIFEST = 1 << 20
OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
OLLAMA_LIBRARY = ("registry.ollama.ai", "library")
_SPLIT = re.compile(r"^(?P<stem>.*)-(?P<part>\d{5})-of-(?P<total>\d{5})\.gguf$", re.IGNORECASE)
_DIGEST = re.compile(r"^sha256:(?P<hex>[0-9a-f]{64})$")
_NOT_MODELS = {"adapter", "mmproj"}  # general.type of LoRA adapters and multimodal projectors


@dataclass(frozen=True)
class ModelEntry:
    name: str  # as the store names it: qwen2.5-coder:7b, Qwen/Qwen2.5-Coder-7B-Instruct-GGUF/…-q4_k_m.gguf
    path: str  # what slipstream.modelPath takes ("" stands for the bundled default when picked)
    source: str  # one of SOURCES
    size: int  # bytes on disk (all parts of a split model)
    quantization: str | None = None  # Q4_K_M …: general.file_type, else the file name, else the weights' type
    architecture: str | None = None
    context_length: int | None = None  # the model's trained context (general metadata), not slipstream's
    fim: bool = False  # the vocabulary has fill-in-the-middle markers, as llama.cpp finds them
    error: str | None = None  # why it cannot be used; None: usable

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Discovery:
    models: list[ModelEntry]
    notes: list[str] = field(default_factory=list)  # folders skipped, configured folders missing

    def as_dict(self) -> dict[str, Any]:
        return {"models": [m.as_dict() for m in self.models], "notes": list(self.notes)}


@dataclass(frozen=True)
class Stores:
    """The folders to look in, by kind; ``locate`` finds them the way each tool does."""

    huggingface: tuple[Path, ...] = ()
    lmstudio: tuple[Path, ...] = ()
    ollama: tuple[Path, ...] = ()
    folders: tuple[Path, ...] = ()

    @classmethod
    def locate(
        cls, folders: Sequence[str] = (), env: Mapping[str, str] | None = None, home: Path | None = None
    ) -> Stores:
        env = os.environ if env is None else env
        home = Path.home() if home is None else home
        hf = [env.get("HF_HUB_CACHE"), env.get("HUGGINGFACE_HUB_CACHE")]
        hf_home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or home / ".cache", "huggingface")
        hf += [os.path.join(hf_home, "hub"), str(home / ".cache" / "huggingface" / "hub")]
        lms = [str(home / ".lmstudio" / "models"), str(home / ".cache" / "lm-studio" / "models")]
        try:
            pointer = (home / ".lmstudio-home-pointer").read_text(encoding="utf-8", errors="replace").strip()
            if pointer:
                lms.insert(0, os.path.join(os.path.expanduser(pointer), "models"))
        except OSError:
            pass
        ollama = [env.get("OLLAMA_MODELS"), str(home / ".ollama" / "models"), "/usr/share/ollama/.ollama/models"]
        return cls(
            _paths(hf),
            _paths(lms),
            _paths(ollama),
            tuple(Path(os.path.expanduser(f.strip())) for f in folders if f and f.strip()),
        )


def _paths(candidates: Sequence[str | None]) -> tuple[Path, ...]:
    out: list[Path] = []
    for c in candidates:
        if c and Path(c) not in out:
            out.append(Path(c))
    return tuple(out)


def discover(stores: Stores, default_model: Callable[[], str] | None = default_model_path) -> Discovery:
    """Every model in ``stores``, the bundled default first (when ``default_model`` gives its path)."""
    scan = _Scan()
    if default_model is not None:
        scan.default(default_model)
    for root in stores.huggingface:
        scan.huggingface(root)
    for root in stores.lmstudio:
        scan.tree(root, "lmstudio")
    for root in stores.ollama:
        scan.ollama(root)
    for folder in stores.folders:
        scan.folder(folder)
    return Discovery(_unique_names(scan.entries), scan.notes)


def discover_models(folders: Sequence[str] = (), include_default: bool = True) -> Discovery:
    """This machine's models, from the usual places plus ``folders`` (slipstream.modelDirectories)."""
    return discover(Stores.locate(folders), default_model_path if include_default else None)


def describe(path: str | Path, source: str, name: str) -> ModelEntry | None:
    """One file as an entry (with ``error`` when unusable); None for files that are not language models."""
    path = str(path)
    split = _SPLIT.match(os.path.basename(path))
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        return ModelEntry(name, path, source, 0, error=f"cannot read: {exc.strerror or exc}")
    error = None
    if split:
        if int(split["part"]) != 1:
            return None  # the first part stands for the model
        size, error = _split_parts(path, split)
    try:
        info = read_gguf(path)
    except GgufError as exc:
        return ModelEntry(name, path, source, size, error=str(exc))
    if info.metadata.get("general.type") in _NOT_MODELS or info.architecture == "clip":
        return None
    if info.tensor_count == 0:
        error = error or "no weights: a vocabulary-only GGUF"
    return ModelEntry(
        name,
        path,
        source,
        size,
        info.quantization(os.path.basename(path)),
        info.architecture,
        info.context_length,
        info.fim is not None,
        error or info.problem,
    )


def _split_parts(first: str, m: re.Match[str]) -> tuple[int, str | None]:
    total, size, missing = int(m["total"]), 0, []
    folder = os.path.dirname(first)
    for part in range(1, total + 1):
        try:
            size += os.stat(os.path.join(folder, f"{m['stem']}-{part:05d}-of-{total:05d}.gguf")).st_size
        except OSError:
            missing.append(str(part))
    error = f"split model: part {', '.join(missing)} of {total} missing" if missing else None
    return size, error


def _is_gguf(file_name: str) -> bool:
    return file_name.lower().endswith(".gguf")


class _Scan:
    def __init__(self) -> None:
        self.entries: list[ModelEntry] = []
        self.notes: list[str] = []
        self._files: set[tuple[int, int] | str] = set()  # (device, inode) of every file listed
        self._dirs: set[tuple[int, int]] = set()  # of every folder entered

    def add(self, path: str | Path, source: str, name: str) -> None:
        try:
            st = os.stat(path)
            key: tuple[int, int] | str = (st.st_dev, st.st_ino)
        except OSError:
            key = os.path.abspath(path)
        if key in self._files:
            return
        self._files.add(key)
        entry = describe(path, source, name)
        if entry is not None:
            self.entries.append(entry)

    def default(self, locate: Callable[[], str]) -> None:
        try:
            path = locate()
        except ModelLoadError as exc:
            self.entries.append(ModelEntry("bundled default", "", "default", 0, error=str(exc)))
            return
        self.add(path, "default", f"bundled default ({os.path.basename(path)})")

    def _list(self, folder: Path) -> list[os.DirEntry[str]]:
        """A folder's entries, sorted; [] (and a note) when it cannot be read; [] when it does not exist."""
        try:
            with os.scandir(folder) as it:
                return sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            return []
        except OSError as exc:
            self.notes.append(f"skipped {folder}: {exc.strerror or exc}")
            return []

    def _enter(self, folder: Path | str) -> bool:
        """True the first time a folder is reached (by device and inode), following symlinks."""
        try:
            st = os.stat(folder)
        except OSError:
            return False
        key = (st.st_dev, st.st_ino)
        if key in self._dirs:
            return False
        self._dirs.add(key)
        return True

    def _walk(self, root: Path, is_model: Callable[[str], bool] = _is_gguf) -> Iterator[tuple[Path, str]]:
        """(path, path relative to root) of the model files under root, depth-first, in name order."""
        if not root.is_dir() or not self._enter(root):
            return
        stack: list[tuple[Path, int]] = [(root, 0)]
        visited = 0
        while stack:
            folder, depth = stack.pop()
            visited += 1
            if visited > MAX_DIRS:
                self.notes.append(f"stopped looking in {root} after {MAX_DIRS:,} folders")
                return
            subfolders = []
            for e in self._list(folder):
                try:
                    is_dir = e.is_dir()
                except OSError:
                    continue
                if is_dir:
                    if depth < MAX_DEPTH and self._enter(e.path):
                        subfolders.append((Path(e.path), depth + 1))
                elif is_model(e.name):
                    yield Path(e.path), Path(e.path).relative_to(root).as_posix()
            stack.extend(reversed(subfolders))

    def tree(self, root: Path, source: str, prefix: str = "") -> None:
        for path, rel in list(self._walk(root)):
            self.add(path, source, prefix + rel)

    def folder(self, folder: Path) -> None:
        if folder.is_file():
            self.add(folder, "folder", folder.name)
        elif folder.is_dir():
            self.tree(folder, "folder", folder.name + "/")
        else:
            self.notes.append(f"model folder not found: {folder}")

    def huggingface(self, root: Path) -> None:
        if not root.is_dir() or not self._enter(root):
            return
        for repo in self._list(root):
            if not repo.name.startswith("models--") or not repo.is_dir():
                continue
            repo_id = repo.name.removeprefix("models--").replace("--", "/")
            for snapshot in self._list(Path(repo.path) / "snapshots"):
                self.tree(Path(snapshot.path), "huggingface", f"{repo_id}/")

    def ollama(self, root: Path) -> None:
        manifests = root / "manifests"
        for path, rel in list(self._walk(manifests, lambda _name: True)):
            parts = rel.split("/")
            if len(parts) != 4:
                continue
            host, namespace, model, tag = parts
            name = f"{model}:{tag}" if (host, namespace) == OLLAMA_LIBRARY else f"{namespace}/{model}:{tag}"
            if host != OLLAMA_LIBRARY[0]:
                name = f"{host}/{name}"
            self._ollama_model(root, path, name)

    def _ollama_model(self, root: Path, manifest: Path, name: str) -> None:
        try:
            with manifest.open("rb") as f:
                raw = f.read(MAX_MANIFEST + 1)
            if len(raw) > MAX_MANIFEST:
                raise ValueError(f"larger than {MAX_MANIFEST >> 20} MiB")
            data = json.loads(raw)
            layers = data["layers"] if isinstance(data, dict) and isinstance(data.get("layers"), list) else None
        except (OSError, ValueError) as exc:
            layers, problem = None, f"unreadable Ollama manifest {manifest}: {exc}"
        else:
            problem = f"Ollama manifest {manifest} lists no layers"
        if layers is None:
            self.entries.append(ModelEntry(name, str(manifest), "ollama", 0, error=problem))
            return
        layer = next((x for x in layers if isinstance(x, dict) and x.get("mediaType") == OLLAMA_MODEL_LAYER), None)
        if layer is None:
            return  # not a model (Ollama keeps other kinds of manifests there too)
        digest = _DIGEST.match(str(layer.get("digest", "")))
        if digest is None:
            self.entries.append(
                ModelEntry(name, str(manifest), "ollama", 0, error=f"bad digest in Ollama manifest {manifest}")
            )
            return
        blob = root / "blobs" / f"sha256-{digest['hex']}"
        declared = layer.get("size") if isinstance(layer.get("size"), int) else 0
        if not blob.exists():
            error = f"its blob {blob.name} is missing (pull the model again)"
            self.entries.append(ModelEntry(name, str(blob), "ollama", declared, error=error))
            return
        self.add(blob, "ollama", name)


def _unique_names(entries: list[ModelEntry]) -> list[ModelEntry]:
    """Entries whose names collide (two revisions of a hub file, two folders) get their path to tell them apart."""
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.name] = counts.get(e.name, 0) + 1
    return [e if counts[e.name] == 1 else _renamed(e, f"{e.name} ({e.path})") for e in entries]


def _renamed(e: ModelEntry, name: str) -> ModelEntry:
    return ModelEntry(name, e.path, e.source, e.size, e.quantization, e.architecture, e.context_length, e.fim, e.error)


def human_size(n: int) -> str:
    """1536 -> "1.5 KiB", 253113024 -> "241 MiB": one decimal below 10 of a unit."""
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.1f} {unit}" if size < 10 else f"{size:.0f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB" if size < 10 else f"{size:.0f} TiB"


def table(discovery: Discovery) -> str:
    """The listing as a terminal table: one row per model, its path indented below."""
    head = ("NAME", "SIZE", "QUANT", "FIM", "CONTEXT", "ARCH", "SOURCE")
    rows: list[tuple[tuple[str, ...], str]] = []
    for m in discovery.models:
        cells = (
            m.name,
            human_size(m.size) if m.size else "—",
            m.quantization or "—",
            "yes" if m.fim else "no",
            str(m.context_length) if m.context_length else "—",
            m.architecture or "—",
            m.source,
        )
        below = f"    {m.path}" + (f"\n    unusable: {m.error}" if m.error else "")
        rows.append((cells, below))
    widths = [max([len(h)] + [len(r[0][i]) for r in rows]) for i, h in enumerate(head)]

    right = {1, 4}  # sizes and context lengths line up on their last digit

    def line(cells: Sequence[str]) -> str:
        padded = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded)

    out = [line(head).rstrip()]
    for cells, below in rows:
        out += [line(cells).rstrip(), below]
    out += [f"note: {n}" for n in discovery.notes]
    if not discovery.models:
        out.append("no GGUF models found")
    return "\n".join(out)
