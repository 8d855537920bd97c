"""Render and write pages; embed images as data URIs when a page must stand alone."""
from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import Any

import jinja2

from visioncircuits.atomic import write_text

_ENV: jinja2.Environment | None = None


def env() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(
            loader=jinja2.PackageLoader("visioncircuits", "report/templates"),
            autoescape=True,  # every name from files or arguments is escaped
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _ENV.filters["data_uri"] = data_uri
        _ENV.filters["fmt"] = lambda v, p=3: (f"{v:.{p}g}" if isinstance(v, float) else v)
    return _ENV


def render_page(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` with autoescaping."""
    return env().get_template(template).render(**context)


def write_page(path: str | os.PathLike, template: str, **context: Any) -> Path:
    """Render and write atomically."""
    return write_text(path, render_page(template, **context))


def data_uri(image: Any, fmt: str = "png") -> str:
    """A ``data:`` URI for a PIL image, a (3, H, W) tensor, bytes or a file path."""
    if isinstance(image, (str, Path)):
        p = Path(image)
        data = p.read_bytes()
        fmt = p.suffix.lstrip(".").lower().replace("jpg", "jpeg") or fmt
    elif isinstance(image, bytes):
        data = image
    else:
        if not hasattr(image, "save"):
            from visioncircuits.data import to_pil

            image = to_pil(image)
        buf = io.BytesIO()
        image.save(buf, format=fmt.upper())
        data = buf.getvalue()
    mime = "image/svg+xml" if fmt == "svg" else f"image/{fmt}"
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
