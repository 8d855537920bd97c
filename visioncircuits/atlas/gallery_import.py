"""Reuse renders from gallery folders made by ``visioncircuits gallery`` outside the site.

Why: a researcher who already rendered a layer with ``gallery`` should not pay for it again
when building the atlas. Each finished unit folder of the given galleries is copied into the
site's own gallery folder when the site has no finished record of that unit; whether the
copy is then reused is decided by the gallery's ordinary resume check
(:func:`~visioncircuits.featvis.gallery.build_gallery` compares the stored settings), so a
render made with other settings is re-rendered, never silently reused.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Sequence, Union

from visioncircuits.errors import InputError
from visioncircuits.utils import slug

log = logging.getLogger(__name__)


def gallery_layer(folder: Union[str, os.PathLike]) -> str:
    """The unit prefix (layer, or ``sae:DIR``) of a finished gallery folder; one-line error otherwise."""
    f = Path(folder) / "gallery.json"
    try:
        rec = json.loads(f.read_text())
    except FileNotFoundError:
        raise InputError(f"not a gallery folder (no gallery.json): {folder}") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"unreadable gallery manifest {f}: {e}") from None
    if not isinstance(rec, dict) or not isinstance(rec.get("layer"), str):
        raise InputError(f"gallery manifest {f} has no layer")
    return rec["layer"]


def import_gallery(source: Union[str, os.PathLike], target: Path, wanted: Sequence[str]) -> int:
    """Copy ``source``'s finished unit folders for the addresses in ``wanted`` into ``target``.

    Units that ``target`` already holds are left alone. Returns how many unit folders were copied.
    """
    src_units = Path(source) / "units"
    copied = 0
    for addr in wanted:
        name = slug(addr, max_len=120, default="unit")
        src, dst = src_units / name, target / "units" / name
        if not (src / "unit.json").is_file() or (dst / "unit.json").exists():
            continue
        try:
            rec = json.loads((src / "unit.json").read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        if not isinstance(rec, dict) or rec.get("unit") != addr:
            continue
        tmp = dst.with_name(dst.name + ".import.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        shutil.rmtree(dst, ignore_errors=True)
        tmp.rename(dst)  # the unit.json inside arrives with its folder, never before its images
        copied += 1
    log.info("imported %d finished units from %s", copied, source)
    return copied
