"""Top-1 / top-5 of a 1000-class ImageNet model on a folder of ``<wnid>_<name>.jpg`` photos.

The label of each photo is read from its WordNet id (``imagenet_classes``), not from its
position, so a folder holding any subset of classes is scored correctly. Images go through the
package's own loading (``visioncircuits.data``: short side resized to the model's
``spec.input_size`` with bilinear filtering, centre crop), as every other part of the tool
reads them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from visioncircuits.data import ImageFolder, list_images
from visioncircuits.errors import InputError
from visioncircuits.hooks import HookedModel
from visioncircuits.zoo.imagenet_classes import imagenet_wnids


@dataclass
class Accuracy:
    """Counts and the top-5 predictions per photo (rows in the order of ``paths``)."""

    top1: float
    top5: float
    n: int
    paths: list = field(default_factory=list)
    top5_pred: torch.Tensor | None = None

    def as_dict(self) -> dict:
        return {"top1": round(self.top1, 4), "top5": round(self.top5, 4), "n": self.n}


def photo_labels(paths) -> list[int]:
    """Class index of each photo from the WordNet id before the first ``_`` of its name."""
    index = {w: i for i, w in enumerate(imagenet_wnids())}
    labels = []
    for p in paths:
        wnid = os.path.basename(str(p)).split("_", 1)[0]
        if wnid not in index:
            raise InputError(
                f"photo name {os.path.basename(str(p))} does not start with an ImageNet WordNet id (nXXXXXXXX_...)"
            )
        labels.append(index[wnid])
    return labels


def evaluate_photos(
    model: HookedModel,
    folder: str | os.PathLike,
    batch_size: int = 50,
    limit: int | None = None,
    size: int | None = None,
    progress: bool = False,
) -> Accuracy:
    """Top-1/top-5 of ``model`` (1000 logits) on the labelled photos in ``folder``."""
    if model.spec.num_classes != 1000:
        raise InputError(
            f"{model.name} has {model.spec.num_classes} classes; ImageNet accuracy needs a 1000-class model"
        )
    paths = list_images(folder)[:limit] if limit else list_images(folder)
    labels = dict(zip(paths, photo_labels(paths), strict=True))
    data = ImageFolder(folder, size or model.spec.input_size, paths=paths)
    hit1 = hit5 = 0
    seen, preds = [], []
    with torch.inference_mode():
        for batch_paths, images in tqdm(
            data.batches(batch_size), total=-(-len(paths) // batch_size), disable=not progress, desc=model.name
        ):
            top5 = model(images.to(model.device)).topk(5, dim=1).indices.cpu()
            target = torch.tensor([labels[p] for p in batch_paths]).unsqueeze(1)
            hit1 += int((top5[:, :1] == target).sum())
            hit5 += int((top5 == target).any(dim=1).sum())
            seen += batch_paths
            preds.append(top5)
    n = len(seen)
    if n == 0:
        raise InputError(f"no readable photos in {folder}")
    return Accuracy(hit1 / n, hit5 / n, n, seen, torch.cat(preds))
