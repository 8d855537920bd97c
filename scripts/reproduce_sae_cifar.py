"""TopK SAE on CIFAR ResNet-20 `layer3` (64 channels, 8x8) trained on photos, evaluated on others.

Training: random resized crops of 800 of the 1,000 sample photos (every 5th file, sorted, is
held out); 1,024 latents, k = 16, 2,500 steps x 4,096 positions, lr 2e-3. Evaluation on centre
crops of the 200 held-out photos (12,800 positions): explained variance, nMSE, L0, dead
fraction, loss recovered (KL to the clean CIFAR-10 output). Firing statistics on 200,000
positions of random crops of the held-out photos: how many latents never fire, the median
firing frequency, the share firing on at least 1 in 10,000 positions. One thread.

    python scripts/reproduce_sae_cifar.py            # ~5-10 min on one thread
"""

from __future__ import annotations

import sys
import tempfile

import torch
from _common import command, hub_cache, parse_no_options, sample_images

from visioncircuits.results import RESULTS_DIR, Timer, deterministic, write_results

SETTINGS = {"d_sae": 1024, "k": 16, "steps": 2500, "batch_size": 4096, "lr": 2e-3}
FIRING_POSITIONS = 200_000


@torch.no_grad()
def firing(model, sae, folder, n_positions: int) -> dict:
    from visioncircuits.sae.models import flatten_positions
    from visioncircuits.sae.pipeline import split_folder
    from visioncircuits.sae.stream import FolderSource

    held = split_folder(folder)[1]
    counts, seen = torch.zeros(sae.d_sae, dtype=torch.long), 0
    for images in FolderSource(folder, size=32, seed=12345, paths=held).batches(64):
        acts = model.run_with_cache(images, ["layer3"])["layer3"]
        z = sae.encode(flatten_positions(acts))
        counts += (z > 0).sum(0).cpu()
        seen += z.shape[0]
        if seen >= n_positions:
            break
    freq = counts.double() / seen
    return {
        "positions": seen,
        "never_fire": float((counts == 0).double().mean()),
        "median_frequency": float(freq.median()),
        "share_firing_1e-4": float((freq >= 1e-4).double().mean()),
    }


def main() -> int:
    parse_no_options(__doc__)
    from visioncircuits.sae.pipeline import train_layer_sae
    from visioncircuits.sae.train import TrainConfig
    from visioncircuits.zoo import load_model

    with Timer() as t, deterministic(threads=1), hub_cache(), tempfile.TemporaryDirectory() as out:
        model = load_model("cifar10-resnet20")
        cfg = TrainConfig(**SETTINGS, seed=0)
        sae, metrics = train_layer_sae(
            model, "layer3", cfg, out, dataset=sample_images(), eval_images=200, progress=False
        )
        fire = firing(model, sae, sample_images(), FIRING_POSITIONS)
        training = sae.cfg.get("training", {})
    values = {
        "settings": SETTINGS,
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))},
        "training": {k: v for k, v in training.items() if isinstance(v, (int, float, str, bool))},
        "firing": fire,
    }
    write_results(RESULTS_DIR / "sae_cifar.json", values, command(), t, threads=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
