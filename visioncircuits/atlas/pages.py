"""Write every page of an atlas site from what is finished on disk.

Pages link images by relative path (a site of thousands of units stays light: nothing is
inlined twice) and only link to pages that exist. One script and one stylesheet serve every
page (``static/``); the search index is ``static/search_index.js``.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from visioncircuits.atlas.search_index import index_entry, write_search_index
from visioncircuits.atlas.unit_page import diagram, edge_rows, unit_info
from visioncircuits.atomic import write_text
from visioncircuits.featvis.gallery import manifest_units
from visioncircuits.report import write_page
from visioncircuits.utils import slug

STRIP = 12  # thumbnails per layer on the model page


def _static(site: Path) -> None:
    tpl = resources.files("visioncircuits.report") / "templates"
    write_text(site / "static" / "atlas.js", (tpl / "atlas_static.js.j2").read_text())


def _finished(folder: Path, wanted: set) -> list:
    """The wanted units the gallery's manifest lists (its current fingerprint: never another model's)."""
    return [r for r in manifest_units(folder) if r.get("unit") in wanted]


def _extra(folder: Path, rec: dict):
    f = folder / "units" / slug(rec["unit"], max_len=120, default="unit") / "atlas_extra.json"
    try:
        return json.loads(f.read_text()) if f.exists() else None
    except (OSError, json.JSONDecodeError):
        return None


def write_site(site: Path, model, layers: list, units: dict, notes: dict, neighbours: dict, matches: dict,
               sae_info: dict, atlases: list, photos: Path, size: int) -> int:
    """Write the model, layer, unit, SAE-latent, search and atlas pages; returns the unit pages written."""
    from visioncircuits.atlas.site import gallery_dir, sae_gallery_dir

    _static(site)
    infos: dict = {}
    by_layer: dict = {}
    for layer in layers:
        folder = gallery_dir(site, layer)
        rel = folder.relative_to(site).as_posix()
        wanted = {f"{layer}:{i}" for i in units[layer]}
        by_layer[layer] = []
        for rec in _finished(folder, wanted):
            info = unit_info(rec, rel, "channel", notes.get(layer, {}).get(int(rec["index"]), ""), _extra(folder, rec))
            info["layer"] = layer
            infos[info["address"]] = info
            by_layer[layer].append(info)
    sae_units: dict = {}
    for d, si in sae_info.items():
        folder = sae_gallery_dir(site, d)
        rel = folder.relative_to(site).as_posix()
        wanted = {f"sae:{d}:{j}" for j in si["per_latent"]}
        sae_units[d] = []
        for rec in _finished(folder, wanted):
            info = unit_info(rec, rel, "sae", f"SAE latent {rec['index']} on {si['layer']}", _extra(folder, rec))
            info["layer"] = si["layer"]
            infos[info["address"]] = info
            sae_units[d].append(info)
    shapes = {n: tuple(i.shape) for n, i in model.layer_info(size).items()}
    common = {"model": model.spec.name}
    for addr, info in infos.items():
        if info["kind"] == "channel":
            nb = neighbours.get(addr, {"up": [], "up_all": [], "down": []})
            up, down = edge_rows(nb["up"], infos), edge_rows(nb["down"], infos)
            sae_rows = []
            for d, si in sae_info.items():
                if si["layer"] == info["layer"]:
                    for j, w in si["per_unit"].get(info["index"], []):
                        other = infos.get(f"sae:{d}:{j}")
                        sae_rows.append({"unit": f"sae:{d}:{j}", "weight": w, "href": other and other["href"],
                                         "vis": other and other["vis"]})
            write_page(site / info["href"], "atlas_unit.html.j2", title=f"{addr} · {model.spec.name}", root="../",
                       u=info, up=up, down=down, up_all=edge_rows(nb.get("up_all", []), infos),
                       dia=diagram(addr, info["vis"], up, down), matches=matches.get(addr, [])[:8], sae=sae_rows,
                       layer_href=f"layers/{slug(info['layer'])}.html", reads=[], **common)
        else:
            d, j = addr[4:].rsplit(":", 1)
            reads = [{"unit": f"{sae_info[d]['layer']}:{c}", "weight": w,
                      "href": (infos.get(f"{sae_info[d]['layer']}:{c}") or {}).get("href"),
                      "vis": (infos.get(f"{sae_info[d]['layer']}:{c}") or {}).get("vis")}
                     for c, w in sae_info[d]["per_latent"].get(int(j), [])]
            write_page(site / info["href"], "atlas_unit.html.j2", title=f"{addr} · {model.spec.name}", root="../",
                       u=info, up=[], down=[], up_all=[], dia=None, matches=[], sae=[], reads=reads,
                       layer_href=f"layers/{slug(info['layer'])}.html", **common)
    atlas_pages = {}
    for layer in atlases:
        adir = site / "atlas" / slug(layer)
        data = json.loads((adir / "atlas.json").read_text())
        write_page(adir / "index.html", "atlas_activation.html.j2", title=f"Activation atlas of {layer}",
                   root="../../", layer=layer, atlas=data, cells=data["cells"], **common)
        atlas_pages[layer] = f"atlas/{slug(layer)}/index.html"
    layer_rows = []
    for layer in layers:
        href = f"layers/{slug(layer)}.html"
        write_page(site / href, "atlas_layer.html.j2", title=f"{layer} · {model.spec.name}", root="../",
                   layer=layer, shape=shapes.get(layer), cards=by_layer[layer], atlas=atlas_pages.get(layer),
                   selected=len(units[layer]), **common)
        layer_rows.append({"name": layer, "shape": shapes.get(layer), "href": href, "strip": by_layer[layer][:STRIP],
                           "n": len(by_layer[layer]), "selected": len(units[layer]), "atlas": atlas_pages.get(layer),
                           "saes": [{"dir": d, "units": sae_units[d]} for d, si in sae_info.items()
                                    if si["layer"] == layer]})
    entries = [index_entry(i["address"], i["label"], i["classes"], i["href"], i["vis"] or "") for i in infos.values()]
    write_search_index(site, entries)
    write_page(site / "search.html", "atlas_search.html.j2", title=f"Search · {model.spec.name}", root="", **common)
    write_page(site / "index.html", "atlas_model.html.j2", title=f"{model.spec.name} atlas", root="",
               layers=layer_rows, n_units=len(infos), photos=str(photos), size=size, **common)
    return len(infos)
