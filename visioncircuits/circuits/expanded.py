"""Expanded weights: the data-free linear map from every channel of a lower layer to the
centre position of every channel (or unit) of an upper layer.

Why this is fast: on the linearised model (see :mod:`.linearize`) the upper layer's centre
is a fixed linear function of the lower layer's output, so its Jacobian does not depend on
the point it is taken at. We inject a *batch* of lower activations with a forward hook
(image input stays batch 1, zero), and one forward and one backward pass with one-hot
centre gradients read a whole chunk of rows at once. The rows are computed on the smallest
input whose receptive-field window still matches the full-size one (see :mod:`.window`,
verified by a random projection), so the convolutions in between run on tiny maps.
captum.optim's method, one backward pass per upper channel at full size, is kept as
:meth:`ExpandedWeights.compute_loop`: the brute-force reference in the tests and the
baseline in ``visioncircuits bench circuits``.

Result: ``[C_upper, C_lower, kh, kw]`` (the whole lower map, a centre crop, or
``crop="auto"``: the smallest centred square holding the receptive field).

Centre convention (``center=``). On an even map there is no middle position, so a choice
is needed. Default ``"floor_half"``: position ``H // 2`` (and crops centred there), the
position Lucid's and lucent's ``neuron`` objective and this project's feature
visualisation (``featvis.objectives.neuron``) use, so a circuit's rows and its node
renderings read the same unit. ``"captum"``: ``(H - 1) // 2``, as captum.optim's
``extract_expanded_weights`` reads it (and crops at ``(H - crop) // 2``), to compare with
captum's reference values. On odd maps both are the same position.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional, Sequence, Union

import torch
from tqdm.auto import tqdm

from visioncircuits.circuits import window as W
from visioncircuits.circuits.branch_pruning import RowGroup, row_groups, zeroed
from visioncircuits.circuits.linearize import linear_functions, linearize
from visioncircuits.errors import InputError
from visioncircuits.featvis.precision import channels_last_model, to_channels_last
from visioncircuits.keys import LOGITS, is_logits
from visioncircuits.unit_activations import resolve_unit, unit_map
from visioncircuits.units import Unit
from visioncircuits.utils import first_line

log = logging.getLogger(__name__)

Readout = Callable[[torch.Tensor], torch.Tensor]  # upper activation (B, ...) -> (B, R)
Crop = Union[None, int, str]
UnitsArg = Optional[Sequence[Union[str, Unit, int]]]


class _Stop(Exception):
    pass


CENTERS = ("floor_half", "captum")


def centre_index(n: int, center: str = "floor_half") -> int:
    """The centre position of a map side of ``n``: ``n // 2`` (floor_half) or ``(n - 1) // 2`` (captum)."""
    if center == "floor_half":
        return n // 2
    if center == "captum":
        return (n - 1) // 2
    from visioncircuits.errors import unknown

    raise unknown("center convention", center, list(CENTERS))


def centre_readout(acts: torch.Tensor, channels: Optional[Sequence[int]] = None,
                   center: str = "floor_half") -> torch.Tensor:
    """The centre position of each channel: (B, C, H, W) -> (B, C); (B, C) passes through."""
    if acts.dim() == 2:
        v = acts
    else:
        v = acts[:, :, centre_index(acts.shape[2], center), centre_index(acts.shape[3], center)]
    return v if channels is None else v[:, list(channels)]


def unit_readout(units: Sequence[Unit], center: str = "floor_half") -> Readout:
    """Readout of arbitrary units (channels, SAE latents) at the centre (or their own position)."""

    def read(acts: torch.Tensor) -> torch.Tensor:
        vals = []
        for u in units:
            m = unit_map(u, acts)
            if u.has_position:
                y, x = u.y, u.x
            else:
                y, x = centre_index(m.shape[1], center), centre_index(m.shape[2], center)
            vals.append(m[:, y, x])
        return torch.stack(vals, 1)

    return read


def centre_crop(w: torch.Tensor, crop: Crop, center: str = "floor_half") -> torch.Tensor:
    """Centre ``crop`` x ``crop`` window of the last two dims: starting at ``H // 2 - crop // 2``
    (floor_half, centred on ``H // 2`` as the upper readout) or ``(H - crop) // 2`` (captum)."""
    if crop is None:
        return w
    h, wd = w.shape[-2:]
    if isinstance(crop, bool) or not isinstance(crop, int) or crop < 1:
        raise InputError(f"crop must be a positive number of positions, None or 'auto', got {crop!r}")
    if crop > min(h, wd):
        raise InputError(f"crop {crop} is larger than the lower layer's map {h}x{wd}")
    if center == "captum":
        y0, x0 = (h - crop) // 2, (wd - crop) // 2
    else:
        y0, x0 = centre_index(h, center) - crop // 2, centre_index(wd, center) - crop // 2
    return w[..., y0:y0 + crop, x0:x0 + crop]


def _crop_window(h: int, w: int, crop: Optional[int], center: str) -> tuple[int, int, int, int]:
    """(y0, x0, kh, kw) of :func:`centre_crop`'s window in a map of ``h`` x ``w``."""
    if crop is None:
        return 0, 0, h, w
    if center == "captum":
        return (h - crop) // 2, (w - crop) // 2, crop, crop
    return centre_index(h, center) - crop // 2, centre_index(w, center) - crop // 2, crop, crop


class ExpandedWeights:
    """Expanded weights of one model; keeps one linearised copy for many layer pairs.

    ``ExpandedWeights(model).compute("mixed3a", "mixed3b")`` -> [480, 256, 28, 28].
    ``upper`` is a layer name or ``"logits"``; ``units`` restricts the rows to some upper
    units (channel indices, or unit addresses such as SAE latents on the upper layer).
    ``window=False`` always computes at full size. ``center``: ``"floor_half"`` (``H // 2``,
    default) or ``"captum"`` (``(H - 1) // 2``), see the module docstring.
    ``prune_branches``: rows run only the branches of the upper block they read
    (:mod:`.branch_pruning`; the same rows, less work on Inception blocks).
    """

    def __init__(self, model, size: Optional[int] = None, chunk: int = 256, window: bool = True,
                 memory_mb: int = 1024, progress: bool = False, center: str = "floor_half",
                 channels_last: bool = True, prune_branches: bool = True):
        centre_index(1, center)  # validates
        self.prune_branches = prune_branches
        self.channels_last = channels_last
        self.center = center
        self.model = model
        self.lin = linearize(model)
        self.size = int(size or model.spec.input_size)
        self.chunk = max(1, int(chunk))
        self.window = window
        self.memory = int(memory_mb) << 20
        self.progress = progress
        self._small: Optional[int] = None
        self.last_size: Optional[tuple] = None  # lower map size the last rows were computed on

    # ---------------------------------------------------------------- checks
    def _check_pair(self, lower: str, upper: str) -> None:
        info = self.model.layer_info(self.size)
        self.model.resolve_layer(lower, self.size)
        if is_logits(upper):
            return
        self.model.resolve_layer(upper, self.size)
        if info[lower].order >= info[upper].order:
            raise InputError(f"lower layer '{lower}' must run before upper layer '{upper}'")

    def _readout(self, upper: str, units: UnitsArg) -> tuple[Readout, int, bool]:
        """(readout, number of rows, whether positions are fixed)."""
        n_all = self.model.spec.num_classes if is_logits(upper) else self.model.channels(upper)
        c = self.center
        if units is None:
            return (lambda acts: centre_readout(acts, center=c)), n_all, False
        units = list(units)
        if all(isinstance(u, int) and not isinstance(u, bool) for u in units):
            channels = [int(u) for u in units]  # type: ignore[arg-type]  (all ints, checked above)
            bad = [u for u in channels if not 0 <= u < n_all]
            if bad:
                raise InputError(f"unit {bad[0]} out of range: '{upper}' has {n_all} units (0..{n_all - 1})")
            return (lambda acts: centre_readout(acts, channels, c)), len(channels), False
        if any(isinstance(u, int) for u in units):
            raise InputError("give units as all channel indices or all unit addresses, not a mix")
        parsed = [resolve_unit(self.model, u) for u in units if not isinstance(u, int)]
        wrong = [str(u) for u in parsed if (u.layer or LOGITS) != (LOGITS if is_logits(upper) else upper)]
        if wrong:
            raise InputError(f"units {', '.join(wrong)} do not read from layer '{upper}'")
        return unit_readout(parsed, c), len(parsed), any(u.has_position for u in parsed)

    # ---------------------------------------------------------------- forward
    def _run(self, lower: str, upper: str, readout: Readout, x: torch.Tensor, small: bool = True) -> torch.Tensor:
        """Readout (B, R) of the linearised model with the lower output replaced by ``x``.

        The layers before the lower one run on a small batch-1 image (their values are
        replaced, so only cost matters). If a branch that bypasses the lower layer cannot
        be combined with ``x`` (a concat with another batch or map size), the full-size
        image is used, then a full-size batch.
        """
        got: dict[str, torch.Tensor] = {}

        def inject(_out, _layer):
            return x

        def grab(out, _layer):
            got["y"] = out
            raise _Stop

        hooks = [(lower, inject)] + ([] if is_logits(upper) else [(upper, grab)])
        tries = list(
            dict.fromkeys(([(self._small_image(), 1)] if small else []) + [(self.size, 1), (self.size, x.shape[0])])
        )
        for i, (size, batch) in enumerate(tries):
            img = torch.zeros(batch, 3, size, size, device=x.device)
            try:
                with linear_functions(), self.lin.hooks(hooks):
                    got["y"] = self.lin(img)
            except _Stop:
                pass
            except RuntimeError:
                if i == len(tries) - 1:
                    raise
                continue
            break
        return readout(got["y"])

    def _leaf(self, shape: Sequence[int], batch: int) -> torch.Tensor:
        return torch.zeros(batch, *shape, device=self.lin.device, requires_grad=True)

    def _probe(self, shape: Sequence[int], lower: str, upper: str, readout: Readout, v: torch.Tensor) -> torch.Tensor:
        """v . rows with a lower map of ``shape``: (C_lower, h, w), one backward."""
        with torch.enable_grad():
            x = self._leaf(shape, 1)
            r = self._run(lower, upper, readout, x)
            (g,) = torch.autograd.grad((r[0] * v).sum(), x, allow_unused=True)
        return torch.zeros_like(x[0]) if g is None else g[0]

    def _rows(self, shape: Sequence[int], lower: str, upper: str, readout: Readout, n: int,
              check: Optional[tuple[torch.Tensor, torch.Tensor]] = None) -> torch.Tensor:
        """All ``n`` rows by batched injection of a lower map of ``shape``: (n, C_lower, h, w).

        With ``prune_branches``, rows are grouped by the block's leaves they read and the
        others are skipped (:mod:`.branch_pruning`); ``check=(v, probe)`` verifies
        ``v . rows == probe`` (the one-backward probe on the same map) and recomputes without
        pruning if not."""
        groups, leaves = [RowGroup(tuple(range(n)), ())], {}
        if self.prune_branches:
            groups, leaves = row_groups(self.lin.net, self.lin.get_module(lower),
                                        lambda x: self._run(lower, upper, readout, x), shape, self.lin.device)
        rows = self._grouped_rows(shape, lower, upper, readout, n, groups, leaves)
        if check is not None and any(g.skip for g in groups):
            v, probe = check
            if not W.matches(torch.einsum("r,r...->...", v.to(rows.dtype), rows), probe):
                log.warning("%s->%s: branch-pruned rows failed the probe check; recomputing without pruning",
                            lower, upper)
                rows = self._grouped_rows(shape, lower, upper, readout, n, [RowGroup(tuple(range(n)), ())], {})
        return rows

    def _grouped_rows(self, shape, lower, upper, readout, n, groups, leaves) -> torch.Tensor:
        per_row = 4 * int(torch.tensor(shape).prod()) * 8  # the leaf, its gradient and activations in between
        chunk = max(1, min(self.chunk, self.memory // max(1, per_row)))
        out = torch.empty(n, *shape, device=self.lin.device)  # every row is written once below
        jobs = [(g, g.rows[s:s + chunk]) for g in groups for s in range(0, len(g.rows), chunk)]
        # channels_last: the same sums in the same order (identical rows), but the convs and
        # pools on these small maps vectorise over channels (about 1.5x on CPU); the weights
        # are converted once for all chunks
        with channels_last_model(self.lin.net, self.channels_last):
            for group, rows in tqdm(jobs, desc=f"{lower}->{upper}", unit="chunk", disable=not self.progress,
                                    leave=False):
                b = len(rows)
                idx = torch.tensor(rows, device=self.lin.device)
                with torch.enable_grad(), zeroed([leaves[name] for name in group.skip]):
                    x = to_channels_last(self._leaf(shape, b).detach(), self.channels_last).requires_grad_(True)
                    r = self._run(lower, upper, readout, x)
                    picked = r[torch.arange(b, device=r.device), idx]
                    # nothing to differentiate: the rows read no path from the lower layer (zero rows)
                    g = torch.autograd.grad(picked.sum(), x, allow_unused=True)[0] if picked.requires_grad else None
                out[idx] = 0.0 if g is None else g.detach()
        return out

    # ---------------------------------------------------------------- public
    def compute(self, lower: str, upper: str, crop: Crop = None, units: UnitsArg = None) -> torch.Tensor:
        """[R, C_lower, kh, kw]: row r is the linear map from the lower layer to upper unit r.

        Examples:
            >>> ew = ExpandedWeights(load_model("cifar10-resnet20", weights="random"))
            >>> ew.compute("layer2.2", "layer3.0", crop=5, units=[0, 1]).shape
            torch.Size([2, 32, 5, 5])
        """
        self._check_pair(lower, upper)
        readout, n, fixed_pos = self._readout(upper, units)
        lower_shape = self.model.layer_info(self.size)[lower].shape
        if len(lower_shape) != 3:
            raise InputError(f"lower layer '{lower}' must be a conv layer (C, H, W), got shape {tuple(lower_shape)}")
        _, h, w = lower_shape
        gen = torch.Generator().manual_seed(0)
        v = torch.randn(n, generator=gen).to(self.lin.device)
        g_full = self._probe(lower_shape, lower, upper, readout, v)
        box = W.nonzero_box(g_full)
        if crop == "auto":
            crop = W.auto_crop(box, h, w, self.center)
        centre_crop(g_full, crop, self.center)  # validates the crop before the long work
        assert crop is None or isinstance(crop, int)
        if self.window and not fixed_pos and box is not None and not is_logits(upper) and W.is_interior(box, h, w):
            try:
                rows = self._windowed(lower, upper, readout, n, v, g_full, box, crop)
                if rows is not None:
                    return rows
            except RuntimeError as e:  # a branch bypasses the lower layer: no injected window
                log.debug("no window for %s->%s: %s", lower, upper, first_line(e))
        self.last_size = (h, w)
        return centre_crop(self._rows(lower_shape, lower, upper, readout, n, check=(v, g_full)), crop, self.center)

    def _small_image(self) -> int:
        """The smallest input the layers before the injection point run on (values unused)."""
        if self._small is not None:
            return self._small
        self._small = self.size
        for s in (16, 32, 64, 128):
            if s >= self.size:
                break
            try:
                self.model.layer_info(s)
                self._small = s
                break
            except (RuntimeError, ValueError):
                continue
        return self._small

    def _windowed(self, lower, upper, readout, n, v, g_full, box, crop: Optional[int] = None) -> Optional[torch.Tensor]:
        """Rows computed on an injected lower map just larger than the receptive field, placed
        in the (cropped) full-size map: only the crop is ever allocated."""
        c, h, w = g_full.shape
        upper_hw = self.model.layer_info(self.size)[upper].shape[1:]
        ref = g_full[:, box[0]:box[1] + 1, box[2]:box[3] + 1]
        for L in W.candidate_maps(box, (h, w), upper_hw):
            try:
                g = self._probe((c, L, L), lower, upper, readout, v)
            except (RuntimeError, IndexError):  # too small for this path
                continue
            b = W.nonzero_box(g)
            if (
                b is None
                or W.box_shape(b) != W.box_shape(box)
                or not W.matches(g[:, b[0] : b[1] + 1, b[2] : b[3] + 1], ref)
            ):
                continue
            log.debug("%s->%s: rows on a %dx%d lower map instead of %dx%d", lower, upper, L, L, h, w)
            small = self._rows((c, L, L), lower, upper, readout, n, check=(v, g))
            y0, x0, kh, kw = _crop_window(h, w, crop, self.center)
            out = torch.zeros(n, c, kh, kw, device=small.device, dtype=small.dtype)
            # the box (full-map coordinates) intersected with the crop window
            ya, yb = max(box[0], y0), min(box[1] + 1, y0 + kh)
            xa, xb = max(box[2], x0), min(box[3] + 1, x0 + kw)
            if ya < yb and xa < xb:
                sy, sx = b[0] - box[0], b[2] - box[2]  # small-map offset of full-map coordinates
                out[:, :, ya - y0:yb - y0, xa - x0:xb - x0] = small[:, :, ya + sy:yb + sy, xa + sx:xb + sx]
            self.last_size = (L, L)
            return out
        return None

    def compute_loop(self, lower: str, upper: str, crop: Crop = None, units: UnitsArg = None) -> torch.Tensor:
        """Brute force (captum.optim's method): one forward, then one backward pass per upper
        unit at full size."""
        self._check_pair(lower, upper)
        readout, n, _ = self._readout(upper, units)
        rows = []
        with torch.enable_grad():
            x = self._leaf(self.model.layer_info(self.size)[lower].shape, 1)
            r = self._run(lower, upper, readout, x, small=False)[0]
            for i in tqdm(range(n), desc=f"{lower}->{upper} (loop)", disable=not self.progress, leave=False):
                (g,) = torch.autograd.grad(r[i], x, retain_graph=True, allow_unused=True)
                rows.append(torch.zeros_like(x[0]) if g is None else g[0])
        rows = torch.stack(rows).detach()
        if crop == "auto":
            h, w = rows.shape[-2:]
            crop = W.auto_crop(W.nonzero_box(rows.sum(0)), h, w, self.center)
        return centre_crop(rows, crop, self.center)


def expanded_weights(model, lower: str, upper: str, crop: Crop = None, *, units: UnitsArg = None,
                     size: Optional[int] = None, window: bool = True, progress: bool = False,
                     center: str = "floor_half") -> torch.Tensor:
    """Expanded weights [C_upper, C_lower, kh, kw] from ``lower`` to ``upper`` (data-free).

    For many pairs of one model, build one :class:`ExpandedWeights` and call ``compute``.
    ``center="captum"`` reads the upper centre at ``(H - 1) // 2`` as captum.optim does.
    """
    ew = ExpandedWeights(model, size=size, window=window, progress=progress, center=center)
    return ew.compute(lower, upper, crop, units)


def expanded_weights_loop(model, lower: str, upper: str, crop: Crop = None, *, units: UnitsArg = None,
                          size: Optional[int] = None, center: str = "floor_half") -> torch.Tensor:
    """The same tensor by one backward pass per upper unit (reference and benchmark baseline)."""
    return ExpandedWeights(model, size=size, center=center).compute_loop(lower, upper, crop, units)
