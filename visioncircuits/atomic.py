"""Atomic file writes (temp file in the same folder, then rename), so a killed job never
leaves a half-written output and a resumed job can trust every file it finds.

A kill between creating the temp file and the rename leaves ``.NAME.<host>-<pid>.XXXX.tmp``
behind; resumable writers call :func:`clean_stale_tmp` on their output folder, which removes
the temp files of processes that are gone (never those of a live writer, e.g. another shard).
"""
from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional, Union

log = logging.getLogger(__name__)
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
_TMP = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.[^.]+\.tmp$")
FOREIGN_TMP_AGE_S = 24 * 3600  # temp files of other hosts (shared folders) are removed after a day


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Call ``write(fileobj)`` on a temp file next to ``path``, fsync, then rename onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_HOST}-{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs should be ordinary files
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def is_stale_tmp(path: Path, now: Optional[float] = None) -> bool:
    """A temp file left by a killed atomic write: its process (on this host) is gone, or it is a
    day old (another host's, or an older naming scheme)."""
    if not (path.name.startswith(".") and path.name.endswith(".tmp")):
        return False
    m = _TMP.match(path.name)
    if m and m.group("host") == _HOST:
        return not _pid_alive(int(m.group("pid")))
    try:
        age = (now or time.time()) - path.stat().st_mtime
    except OSError:
        return False
    return age > FOREIGN_TMP_AGE_S


def clean_stale_tmp(folder: Union[str, os.PathLike], recursive: bool = True) -> int:
    """Remove the leftover temp files of killed atomic writes under ``folder``; returns how many."""
    root = Path(folder)
    if not root.is_dir():
        return 0
    removed = 0
    for f in root.rglob(".*.tmp") if recursive else root.glob(".*.tmp"):
        if f.is_file() and is_stale_tmp(f):
            try:
                f.unlink()
                removed += 1
            except FileNotFoundError:
                pass
    if removed:
        log.info("removed %d leftover temp files of killed writes under %s", removed, root)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def write_png(path: str | os.PathLike, image) -> Path:
    """Save a PIL image or (3, H, W) [0, 1] tensor as PNG atomically."""
    if not hasattr(image, "save"):
        from visioncircuits.data import to_pil

        image = to_pil(image)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return write_bytes(path, buf.getvalue())


def _jsonable(o: Any):
    try:
        import numpy as np
        import torch

        if isinstance(o, torch.Tensor):
            return o.detach().cpu().tolist()
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
