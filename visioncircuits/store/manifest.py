"""The store's format: settings, chunk files and ``manifest.json`` (a contract; see docs/DEVELOPING.md).

Layout of a store folder::

    manifest.json                      settings + chunk list (rebuilt from the chunks on disk)
    chunks/chunk-000000.safetensors    "activations" (rows, d), "image" (rows,), "position" (rows,)
    .lock                              serialises manifest rebuilds of concurrent shards

Why the manifest is *derived*: every chunk file carries its own record (rows, image range,
skipped files, settings key) in its safetensors metadata, and every shard rebuilds the
manifest from the chunk files on disk under a file lock after each chunk. So whatever order
concurrent shards finish in, the last rebuild lists every finished chunk, and a killed run
leaves only whole chunks (atomic writes) that the next run skips.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from visioncircuits.atomic import write_json
from visioncircuits.errors import InputError

log = logging.getLogger(__name__)

FORMAT = "visioncircuits-activation-store"
VERSION = 1
MANIFEST_FILE = "manifest.json"
CHUNK_DIR = "chunks"
LOCK_FILE = ".lock"
DTYPES = ("float32", "float16")
TENSORS = ("activations", "image", "position")


@dataclass(frozen=True)
class StoreSettings:
    """Everything that defines a store's rows; two runs with equal settings write equal chunks."""

    model: str
    weights: dict  # {"source": ..., "sha256": ... or None}
    layer: str
    layer_shape: tuple
    dtype: str
    image_size: int
    dataset: dict  # {"path", "n_images", "paths_sha256"}
    seed: int
    positions: Optional[int]  # random positions kept per image; None = all
    chunk_images: int
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise InputError(f"StoreSettings.dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.positions is not None and int(self.positions) < 1:
            raise InputError(f"StoreSettings.positions must be positive, got {self.positions}")
        if int(self.chunk_images) < 1:
            raise InputError(f"StoreSettings.chunk_images must be positive, got {self.chunk_images}")

    @property
    def d(self) -> int:
        return int(self.layer_shape[0])

    @property
    def n_chunks(self) -> int:
        return -(-int(self.dataset["n_images"]) // int(self.chunk_images))

    def to_dict(self) -> dict:
        out = asdict(self)
        out["layer_shape"] = list(self.layer_shape)
        return out

    def key(self) -> str:
        """Digest of the settings, stamped into every chunk (the dataset's absolute path is left
        out, so a moved folder with the same files is the same store)."""
        d = self.to_dict()
        d["dataset"] = {k: v for k, v in d["dataset"].items() if k != "path"}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def chunk_path(root: Path, index: int) -> Path:
    return Path(root) / CHUNK_DIR / f"chunk-{index:06d}.safetensors"


def chunk_image_range(settings: StoreSettings, index: int) -> tuple[int, int]:
    """Image index range [lo, hi) of chunk ``index`` (images in sorted-path order)."""
    lo = index * settings.chunk_images
    return lo, min(lo + settings.chunk_images, int(settings.dataset["n_images"]))


def shard_chunks(settings: StoreSettings, shard: tuple[int, int]) -> list[int]:
    """Chunks of shard K/N: every N-th chunk from K-1, so shards are disjoint and cover all."""
    k, n = shard
    return list(range(k - 1, settings.n_chunks, n))


def read_chunk_record(path: Path) -> Optional[dict]:
    """A chunk file's own record (from its safetensors header only), or None if unreadable."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            keys = set(f.keys())
        record = json.loads(meta["chunk"])
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        log.warning("ignoring unreadable chunk %s: %s", path, e)
        return None
    if not set(TENSORS) <= keys:
        return None
    return record


def finished_chunk(root: Path, settings: StoreSettings, index: int) -> Optional[dict]:
    """The record of chunk ``index`` if it is on disk, whole and made with these settings."""
    path = chunk_path(root, index)
    if not path.exists():
        return None
    record = read_chunk_record(path)
    if record is None or record.get("settings_key") != settings.key() or record.get("index") != index:
        return None
    return record


@contextlib.contextmanager
def store_lock(root: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``root/.lock`` (shards of one store on one file system)."""
    import fcntl

    Path(root).mkdir(parents=True, exist_ok=True)
    with open(Path(root) / LOCK_FILE, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def read_manifest(root: Path) -> Optional[dict]:
    """The manifest dict, None when absent; a file that is not a store manifest is an error."""
    path = Path(root) / MANIFEST_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"unreadable store manifest {path}: {e}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{path} is not a visioncircuits activation store manifest")
    if data.get("version") != VERSION:
        raise InputError(f"{path}: store format version {data.get('version')} is not supported (need {VERSION})")
    return data


def settings_from_manifest(data: dict) -> StoreSettings:
    s = data["settings"]
    return StoreSettings(**{**s, "layer_shape": tuple(s["layer_shape"])})


def check_same_settings(root: Path, settings: StoreSettings) -> None:
    """An existing store at ``root`` must have been made with ``settings`` (else: one-line error)."""
    data = read_manifest(root)
    if data is None:
        return
    old = data["settings"]
    new = settings.to_dict()
    diff = [k for k in new if k != "extra" and _comparable(k, old.get(k)) != _comparable(k, new[k])]
    if diff:
        shown = ", ".join(f"{k}: {_short(old.get(k))} -> {_short(new[k])}" for k in diff[:3])
        raise InputError(f"the store at {root} was made with other settings ({shown}); use another --out folder")


def _comparable(key: str, value):
    if key == "dataset" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "path"}
    return value


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def rebuild_manifest(root: Path, settings: StoreSettings) -> dict:
    """Write ``manifest.json`` from the finished chunks on disk (call under :func:`store_lock`)."""
    chunks = []
    for index in range(settings.n_chunks):
        record = finished_chunk(root, settings, index)
        if record is not None:
            chunks.append({"file": f"{CHUNK_DIR}/{chunk_path(root, index).name}", **record})
    data = {"format": FORMAT, "version": VERSION, "settings": settings.to_dict(), "settings_key": settings.key(),
            "d": settings.d, "n_chunks": settings.n_chunks, "finished_chunks": len(chunks),
            "complete": len(chunks) == settings.n_chunks, "rows": sum(int(c["rows"]) for c in chunks),
            "chunks": chunks}
    write_json(Path(root) / MANIFEST_FILE, data)
    return data


def weights_record(spec, weights: Optional[str]) -> dict:
    """Where the model's weights came from and their SHA-256 when they are a local file."""
    from visioncircuits.zoo.weights import sha256_of

    if weights == "random":
        return {"source": "random", "sha256": None}
    path = weights or getattr(spec, "default_weights", None)
    if path and Path(path).is_file():
        return {"source": str(weights) if weights else "published", "sha256": sha256_of(Path(path))}
    return {"source": "published", "sha256": None}


def dataset_record(folder: os.PathLike | str, rel_paths: list[str]) -> dict:
    return {"path": str(Path(folder).resolve()), "n_images": len(rel_paths),
            "paths_sha256": hashlib.sha256("\n".join(rel_paths).encode()).hexdigest()}
