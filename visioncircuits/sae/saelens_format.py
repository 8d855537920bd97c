"""SAE folders SAELens can open, and SAELens folders imported back (no sae-lens import needed).

Why a converter and not one shared folder: SAELens (v6) reads ``sae_weights.safetensors`` and
its own ``cfg.json`` keys (``d_in``, ``d_sae``, ``architecture``, ``k``, ``apply_b_dec_to_input``,
``normalize_activations``, ``metadata``...), which clash with this package's ``cfg.json``. So an
export writes a separate folder that ``sae_lens.SAE.load_from_disk(DIR)`` loads.

The maths, checked against the sae-lens 6.54 source (``saes/sae.py``, ``topk_sae.py``,
``standard_sae.py``, ``jumprelu_sae.py``; tests compare numbers both ways):

    SAELens:        pre = (x - b_dec * apply_b_dec_to_input) @ W_enc + b_enc     W_enc: (d_in, d_sae)
                    z = act(pre);  x_hat = z @ W_dec + b_dec                     W_dec: (d_sae, d_in)
    visioncircuits: pre = (x * s - b_dec) @ W_enc + b_enc;  x_hat = (z @ W_dec + b_dec) / s

Same layout, so exporting only folds the input scale ``s`` into the weights, as SAELens's own
``fold_activation_norm_scaling_factor`` does: ``W_enc * s``, ``W_dec / s``, ``b_dec / s``
(``normalize_activations = "none"``). Codes ``z`` are then identical; the exported decoder rows
have norm ``1/s`` instead of 1. Architectures: ``topk`` -> SAELens ``topk``
(``rescale_acts_by_decoder_norm = False``); ``relu`` -> ``standard``; ``batchtopk`` ->
``jumprelu`` with every latent's threshold equal to the learned one, which is what SAELens
itself saves a trained BatchTopK SAE as (its ``batchtopk`` is a training-only class).

Import takes SAELens ``topk`` and ``standard`` folders (v6 and the older flat ``cfg.json``),
folding what this package does not model: ``apply_b_dec_to_input = False`` goes into
``b_enc``, and TopK's ``rescale_acts_by_decoder_norm = True`` into ``W_enc``/``b_enc``/``W_dec``
(SAELens's ``fold_W_dec_norm``). A ``jumprelu`` folder imports as ``batchtopk`` when all
thresholds are equal and ``k`` is known (our own exports). ``layer``/``model`` come from
``metadata.hook_name``/``model_name`` unless given. Activations must be channels-last for
SAELens: conv maps (N, C, H, W) go in as ``x.permute(0, 2, 3, 1)``.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Optional, Union

import torch

from visioncircuits.atomic import write_bytes, write_json
from visioncircuits.errors import InputError, VisionCircuitsError, WeightsError
from visioncircuits.sae.config import CONFIG_FILE, WEIGHTS_FILE, SAEConfig, in_context
from visioncircuits.sae.models import SparseAutoencoder

log = logging.getLogger(__name__)

SAELENS_WEIGHTS_FILE = "sae_weights.safetensors"
SAELENS_FORMAT_VERSION = "6.0.0"  # the SAELens cfg.json layout written (metadata block, v6 names)
TO_SAELENS = {"topk": "topk", "relu": "standard", "batchtopk": "jumprelu"}
IMPORTABLE = ("topk", "standard", "jumprelu")
_SUPPORTED_NORMS = ("none", "expected_average_only_in")  # the second is the identity in SAELens's load_from_disk


def saelens_state(sae: SparseAutoencoder) -> tuple[dict, dict[str, torch.Tensor]]:
    """``(cfg_dict, tensors)`` of the SAELens form of ``sae`` (the input scale folded in)."""
    s = float(sae.input_scale)
    with torch.no_grad():
        tensors = {"W_enc": sae.W_enc * s, "b_enc": sae.b_enc.clone(), "W_dec": sae.W_dec / s, "b_dec": sae.b_dec / s}
        if sae.architecture == "batchtopk":
            tensors["threshold"] = torch.full((sae.d_sae,), float(sae.threshold.clamp_min(0)))
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in tensors.items()}
    cfg = sae.cfg
    metadata: dict[str, Any] = {"sae_lens_version": SAELENS_FORMAT_VERSION,
                                "model_name": cfg.model, "hook_name": cfg.layer,
                                "converted_by": "visioncircuits sae export",
                                "visioncircuits": {**cfg.to_dict(), "input_scale": s,
                                                   "threshold": float(sae.threshold)}}
    out: dict[str, Any] = {"architecture": TO_SAELENS[sae.architecture], "d_in": sae.d_in, "d_sae": sae.d_sae,
                           "dtype": "float32", "device": "cpu", "apply_b_dec_to_input": True,
                           "normalize_activations": "none", "reshape_activations": "none", "metadata": metadata}
    if sae.architecture == "topk":
        out.update(k=sae.k, rescale_acts_by_decoder_norm=False)
    return out, tensors


def _check_out(out: Path, foreign_weights: str, what: str) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"cannot write {what} to {out}: it exists and is not a folder")
    if (out / foreign_weights).exists():
        raise InputError(f"refusing to write {what} into {out}: it holds {foreign_weights} (another format's folder; "
                         "its cfg.json would be overwritten)")


def export_saelens(sae: Union[SparseAutoencoder, str, os.PathLike], out_dir: Union[str, os.PathLike]) -> Path:
    """Write ``sae`` (a module or an SAE folder) as a SAELens folder ``out_dir``; returns it.

    Examples:
        >>> export_saelens("runs/sae-layer3", "runs/sae-layer3-saelens")   # doctest: +SKIP
        >>> sae_lens.SAE.load_from_disk("runs/sae-layer3-saelens")         # doctest: +SKIP
    """
    from safetensors.torch import save

    if not isinstance(sae, SparseAutoencoder):
        from visioncircuits.sae.io import load_sae

        sae = load_sae(sae)
    out = Path(out_dir)
    _check_out(out, WEIGHTS_FILE, "a SAELens SAE")
    cfg, tensors = saelens_state(sae)
    write_bytes(out / SAELENS_WEIGHTS_FILE, save(tensors))
    write_json(out / CONFIG_FILE, cfg)
    return out


# ---------------------------------------------------------------------------------------------- import
def read_saelens_cfg(saelens_dir: Union[str, os.PathLike]) -> dict:
    """A SAELens folder's ``cfg.json`` in v6 form (older flat configs are renamed), checked."""
    d = Path(saelens_dir)
    path = d / CONFIG_FILE
    if not d.is_dir():
        raise InputError(f"no SAELens SAE at {d}: folder not found")
    if not path.exists() or not (d / SAELENS_WEIGHTS_FILE).exists():
        hint = f" (it looks like a visioncircuits SAE: it has {WEIGHTS_FILE})" if (d / WEIGHTS_FILE).exists() else ""
        raise InputError(f"no SAELens SAE at {d}: need {CONFIG_FILE} and {SAELENS_WEIGHTS_FILE}{hint}")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"corrupt SAELens config {path}: {e}") from None
    if not isinstance(raw, dict):
        raise InputError(f"corrupt SAELens config {path}: expected a JSON object, got {type(raw).__name__}")
    cfg = dict(raw)
    meta: dict[str, Any] = dict(cfg["metadata"]) if isinstance(cfg.get("metadata"), dict) else {}
    # pre-6.0 names (what SAELens's handle_pre_6_0_config renames)
    for old, new in (("hook_point", "hook_name"), ("activation_fn_str", "activation_fn")):
        if old in cfg and new not in cfg:
            cfg[new] = cfg.pop(old)
    for key in ("model_name", "hook_name"):
        if key in cfg and key not in meta:
            meta[key] = cfg[key]
    cfg["metadata"] = meta
    cfg.setdefault("architecture", "standard")
    kwargs = cfg.get("activation_fn_kwargs") or {}
    if cfg.get("activation_fn") == "topk" and isinstance(kwargs, dict) and kwargs.get("k") is not None:
        cfg["architecture"], cfg["k"] = "topk", kwargs["k"]
    norm = cfg.get("normalize_activations", "none")
    if isinstance(norm, bool) or norm is None:
        norm = "expected_average_only_in" if norm else "none"
    cfg["normalize_activations"] = norm
    cfg.setdefault("apply_b_dec_to_input", True)
    problems = []
    if cfg["architecture"] not in IMPORTABLE:
        problems.append(f"architecture '{cfg['architecture']}' cannot be imported (supported: {', '.join(IMPORTABLE)})")
    if norm not in _SUPPORTED_NORMS:
        problems.append(f"normalize_activations '{norm}' is not supported (only none)")
    if cfg.get("reshape_activations", "none") != "none":
        problems.append(f"reshape_activations '{cfg['reshape_activations']}' is not supported (only none)")
    if not isinstance(cfg["apply_b_dec_to_input"], bool):
        problems.append(f"apply_b_dec_to_input must be true or false, got {cfg['apply_b_dec_to_input']!r}")
    if problems:
        raise InputError(f"cannot import {path}: {'; '.join(problems)}")
    if norm == "expected_average_only_in":
        log.warning("%s: normalize_activations is expected_average_only_in; like SAELens's load_from_disk, the "
                    "scaling factor (not stored in the folder) is not applied", path)
    return cfg


def _load_tensors(path: Path, d_in: int, d_sae: int, names: tuple) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise WeightsError(f"cannot read {path} (corrupt or truncated?): {str(e).splitlines()[0]}") from None
    shapes = {"W_enc": (d_in, d_sae), "b_enc": (d_sae,), "W_dec": (d_sae, d_in), "b_dec": (d_in,),
              "threshold": (d_sae,)}
    for name in names:
        if name not in tensors:
            raise WeightsError(f"{path} has no tensor '{name}' (found: {', '.join(sorted(tensors)) or 'none'})")
        if tuple(tensors[name].shape) != shapes[name]:
            raise WeightsError(f"{path}: tensor '{name}' has shape {tuple(tensors[name].shape)}, "
                               f"cfg.json says {shapes[name]}")
    factor = tensors.get("scaling_factor")
    if factor is not None and not torch.allclose(factor, torch.ones_like(factor)):
        raise InputError(f"cannot import {path}: it has a finetuning scaling_factor (not supported)")
    return {n: tensors[n].to(torch.float64) for n in names}


def read_saelens(saelens_dir: Union[str, os.PathLike], layer: Optional[str] = None,
                 model: Optional[str] = None) -> SparseAutoencoder:
    """A SAELens folder as a :class:`SparseAutoencoder` computing the same codes and reconstructions."""
    d = Path(saelens_dir)
    cfg = read_saelens_cfg(d)
    meta = cfg["metadata"]
    ours = meta.get("visioncircuits") if isinstance(meta.get("visioncircuits"), dict) else {}
    arch = cfg["architecture"]
    try:
        d_in, d_sae = int(cfg["d_in"]), int(cfg["d_sae"])
    except (KeyError, TypeError, ValueError):
        raise InputError(f"corrupt SAELens config {d / CONFIG_FILE}: d_in and d_sae must be integers") from None
    names = ("W_enc", "b_enc", "W_dec", "b_dec") + (("threshold",) if arch == "jumprelu" else ())
    t = _load_tensors(d / SAELENS_WEIGHTS_FILE, d_in, d_sae, names)
    W_enc, b_enc, W_dec, b_dec = t["W_enc"], t["b_enc"], t["W_dec"], t["b_dec"]
    if not cfg["apply_b_dec_to_input"]:  # pre = x @ W_enc + b_enc = (x - b_dec) @ W_enc + (b_enc + b_dec @ W_enc)
        b_enc = b_enc + b_dec @ W_enc
    k, threshold, ours_arch = None, 0.0, {"topk": "topk", "standard": "relu", "jumprelu": "batchtopk"}[arch]
    if arch == "topk":
        k = cfg.get("k", 100)  # SAELens's TopKSAEConfig default, so a folder without k means what it means there
        if cfg.get("rescale_acts_by_decoder_norm"):  # fold: z = topk(pre * |W_dec|), x_hat = (z / |W_dec|) @ W_dec
            norms = W_dec.norm(dim=1).clamp_min(1e-8)
            W_enc, b_enc, W_dec = W_enc * norms, b_enc * norms, W_dec / norms[:, None]
    elif arch == "jumprelu":
        thr = t["threshold"]
        k = ours.get("k")
        if not bool((thr == thr[0]).all()) or float(thr[0]) < 0 or k is None:
            raise InputError(f"cannot import {d}: a SAELens jumprelu SAE imports only with one shared threshold "
                             ">= 0 and a known k (a BatchTopK SAE exported by visioncircuits); this one has "
                             "per-latent thresholds or no k")
        threshold = float(thr[0])
    # undo our own export's folding, so an export -> import round trip gives back the original weights
    scale = ours.get("input_scale", 1.0)
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0:
        scale = 1.0
    if scale != 1.0:
        W_enc, W_dec, b_dec = W_enc / scale, W_dec * scale, b_dec * scale
    keep = {key: ours[key] for key in ("layer_shape", "training_data", "training", "metrics") if key in ours}
    try:
        config = SAEConfig.create(ours_arch, d_in=d_in, d_sae=d_sae, k=k, input_scale=float(scale), threshold=threshold,
                              layer=layer if layer is not None else meta.get("hook_name"),
                              model=model if model is not None else meta.get("model_name"),
                              imported_from={"format": "saelens", "path": str(d.resolve()), "architecture": arch,
                                             "sae_lens_version": meta.get("sae_lens_version")}, **keep)
    except VisionCircuitsError as e:
        raise in_context(e, f"cannot import {d}") from None
    sae = SparseAutoencoder.from_config(config)
    with torch.no_grad():
        for name, value in (("W_enc", W_enc), ("b_enc", b_enc), ("W_dec", W_dec), ("b_dec", b_dec)):
            getattr(sae, name).copy_(value.to(torch.float32))
    return sae.eval()


def import_saelens(saelens_dir: Union[str, os.PathLike], out_dir: Union[str, os.PathLike], layer: Optional[str] = None,
                   model: Optional[str] = None) -> Path:
    """Convert the SAELens folder ``saelens_dir`` into a visioncircuits SAE folder ``out_dir``; returns it.

    Examples:
        >>> import_saelens("saelens-topk/", "runs/imported", layer="layer3", model="cifar10-resnet20")  # doctest: +SKIP
    """
    from visioncircuits.sae.io import save_sae

    src, out = Path(saelens_dir), Path(out_dir)
    if out.resolve() == src.resolve():
        raise InputError(f"the output folder must differ from the SAELens folder ({src})")
    sae = read_saelens(src, layer=layer, model=model)
    _check_out(out, SAELENS_WEIGHTS_FILE, "a visioncircuits SAE")
    return save_sae(sae, out)
