"""Units whose top dataset images come mostly from one group of classes (e.g. the 118 dogs).

Finding where to start a circuit on a real network: rank units by how many of their top-k
images (by spatially averaged activation) belong to the group, against the group's base
rate in the dataset. Pure tensor code, so the same selection serves scripts, the demo and tests.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Collection, Optional, Sequence

import torch

from visioncircuits.errors import InputError


@dataclass
class GroupUnit:
    """One unit's group share among its top images."""

    unit: int
    share_top9: float
    share_top20: float
    top_images: list[int]  # image indices, strongest first (20)

    def as_dict(self) -> dict:
        return {
            "unit": self.unit,
            "share_top9": round(self.share_top9, 4),
            "share_top20": round(self.share_top20, 4),
            "top_images": self.top_images,
        }


def top_images(values: torch.Tensor, k: int) -> torch.Tensor:
    """(N, C) activations -> (C, k) indices of each unit's k strongest images."""
    if values.ndim != 2:
        raise InputError(f"expected (images, units) activations, got shape {tuple(values.shape)}")
    k = min(k, values.shape[0])
    return values.topk(k, dim=0).indices.T


def group_shares(values: torch.Tensor, labels: Sequence[int], group: Collection[int], k: int) -> torch.Tensor:
    """(C,) share of each unit's top-k images whose label is in ``group``."""
    if len(labels) != values.shape[0]:
        raise InputError(f"{len(labels)} labels for {values.shape[0]} images")
    member = torch.tensor([int(lab) in group for lab in labels], dtype=torch.float32)
    return member[top_images(values, k)].mean(1)


def group_units(
    values: torch.Tensor, labels: Sequence[int], group: Collection[int], n: int = 3, min_share: float = 0.0
) -> list[GroupUnit]:
    """The ``n`` units with the highest group share among their top 9 images (ties: top 20),
    keeping only those with share >= ``min_share``."""
    s9, s20 = group_shares(values, labels, group, 9), group_shares(values, labels, group, 20)
    order = sorted(range(values.shape[1]), key=lambda c: (-float(s9[c]), -float(s20[c]), c))
    top = top_images(values, 20)
    return [GroupUnit(c, float(s9[c]), float(s20[c]), top[c].tolist()) for c in order[:n] if float(s9[c]) >= min_share]


def top_classes(
    values: torch.Tensor,
    labels: Sequence[int],
    names: Sequence[str],
    unit: int,
    k: int = 9,
    group: Optional[Collection[int]] = None,
) -> dict:
    """A unit's top-k images summarised: their class names (strongest first), the most common
    classes, and (with ``group``) the group share."""
    idx = top_images(values[:, unit : unit + 1], k)[0].tolist()
    cls = [int(labels[i]) for i in idx]
    out = {"top_classes": [names[c] for c in cls], "common": [[names[c], n] for c, n in Counter(cls).most_common(3)]}
    if group is not None:
        out["group_share"] = round(sum(c in group for c in cls) / len(cls), 4)
    return out
