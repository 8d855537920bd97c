"""Which ImageNet classes are clear members of a CIFAR-10 class.

Why: the CIFAR ResNets can only be sanity-checked on real photographs if we know which
ImageNet photos show a CIFAR-10 object. The mapping is deliberately conservative: each
ImageNet class listed is a prototypical instance (a tabby *is* a cat; a golden retriever *is*
a dog), classes that straddle two CIFAR classes (vans, wings, airships) are left out, and
ImageNet has no deer, so the deer-like antelopes stand in. Tests, benchmarks and notebooks
share it so they measure the same thing.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from visioncircuits.zoo.cifar_resnet import CIFAR10_CLASSES

# CIFAR-10 class -> ImageNet wnids (with the ImageNet class name, for readers).
CIFAR_TO_IMAGENET: dict[str, dict[str, str]] = {
    "airplane": {"n02690373": "airliner", "n04552348": "warplane"},
    "automobile": {
        "n04285008": "sports_car", "n03100240": "convertible", "n02930766": "cab", "n02814533": "beach_wagon",
        "n04037443": "racer", "n03594945": "jeep", "n03670208": "limousine", "n03770679": "minivan",
        "n03777568": "Model_T",
    },
    "bird": {
        "n01514668": "cock", "n01514859": "hen", "n01518878": "ostrich", "n01531178": "goldfinch",
        "n01558993": "robin", "n01580077": "jay", "n01582220": "magpie", "n01614925": "bald_eagle",
    },
    "cat": {
        "n02123045": "tabby", "n02123159": "tiger_cat", "n02123394": "Persian_cat", "n02123597": "Siamese_cat",
        "n02124075": "Egyptian_cat",
    },
    "deer": {"n02422106": "hartebeest", "n02422699": "impala", "n02423022": "gazelle"},
    "dog": {
        "n02099601": "golden_retriever", "n02099712": "Labrador_retriever", "n02088364": "beagle",
        "n02106662": "German_shepherd", "n02110958": "pug", "n02106166": "Border_collie",
    },
    "frog": {"n01641577": "bullfrog", "n01644373": "tree_frog", "n01644900": "tailed_frog"},
    "horse": {"n02389026": "sorrel", "n03538406": "horse_cart"},
    "ship": {
        "n03095699": "container_ship", "n03673027": "liner", "n02687172": "aircraft_carrier", "n03344393": "fireboat",
        "n03662601": "lifeboat", "n04147183": "schooner", "n04273569": "speedboat", "n04612504": "yawl",
    },
    "truck": {
        "n03345487": "fire_engine", "n03417042": "garbage_truck", "n03930630": "pickup", "n04461696": "tow_truck",
        "n04467665": "trailer_truck", "n03796401": "moving_van",
    },
}

WNID_TO_CIFAR: dict[str, int] = {
    wnid: CIFAR10_CLASSES.index(cls) for cls, wnids in CIFAR_TO_IMAGENET.items() for wnid in wnids
}


def cifar_label(path_or_name: str | os.PathLike) -> Optional[int]:
    """CIFAR-10 class index of an ImageNet file named ``<wnid>_<name>.<ext>``, else None."""
    wnid = Path(path_or_name).name.split("_", 1)[0]
    return WNID_TO_CIFAR.get(wnid)


def cifar_subset(paths) -> list[tuple[Path, int]]:
    """The ``(path, cifar_label)`` pairs of the files that map to a CIFAR-10 class."""
    out = []
    for p in paths:
        label = cifar_label(p)
        if label is not None:
            out.append((Path(p), label))
    return out
