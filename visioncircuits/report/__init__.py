"""Self-contained HTML pages (gallery, circuit diagram, universality report, demo index).

All pages are rendered by Jinja2 with autoescaping on, from templates in ``templates/``
that extend ``base.html.j2``; nothing is loaded from a CDN, so pages work from file://.
"""
from visioncircuits.report.html import data_uri, render_page, write_page

__all__ = ["render_page", "write_page", "data_uri"]
