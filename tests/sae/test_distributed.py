"""Data-parallel SAE training (2 gloo processes on CPU) equals one process on the same batches; resume is exact."""
from __future__ import annotations

import pytest
import torch

from visioncircuits.sae.checkpoint import CHECKPOINT_FILE
from visioncircuits.sae.distributed_local import train_store_local
from visioncircuits.sae.io import load_sae
from visioncircuits.sae.train import TrainConfig, train_sae
from visioncircuits.store import ActivationStore, harvest_activations

CFG = {"d_sae": 64, "k": 4, "steps": 24, "batch_size": 63, "lr": 1e-2, "warmup_steps": 3, "dead_after": 200,
       "checkpoint_every": 5, "init_samples": 256, "seed": 3}  # odd batch: ranks get 31 and 32 rows


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    from visioncircuits.data import to_pil
    from visioncircuits.toyworld import generate
    from visioncircuits.zoo import load_model

    root = tmp_path_factory.mktemp("ddp")
    for i, im in enumerate(generate(8, seed=5, size=64).images):
        to_pil(im).save(root / f"img{i}.png")
    harvest_activations(load_model("toy-narrow-s0"), "relu2", root, root / "store", positions=40, chunk_images=2,
                        progress=False)
    return root / "store"


def weights(folder) -> dict:
    sae = load_sae(folder)
    return {n: getattr(sae, n).detach() for n in ("W_enc", "b_enc", "W_dec", "b_dec", "input_scale")}


def single(store_dir, out, stop_after=None, seed_shift=0):
    store = ActivationStore(store_dir)
    return train_sae(store.stream(CFG["seed"] + seed_shift), store.d, TrainConfig(**CFG), out_dir=out,
                     progress=False, stop_after=stop_after)


@pytest.mark.distributed
def test_two_gloo_processes_equal_one(store_dir, tmp_path):
    single(store_dir, tmp_path / "one")
    single(store_dir, tmp_path / "other_order", seed_shift=1)
    # one job of two processes: a straight run, then a run stopped after 7 steps and resumed from its checkpoint
    records = train_store_local(2, str(store_dir), CFG, [(str(tmp_path / "two"), None),
                                                         (str(tmp_path / "resumed"), 7),
                                                         (str(tmp_path / "resumed"), None)])
    assert records[str(tmp_path / "two")]["finished"]
    one, two, resumed = weights(tmp_path / "one"), weights(tmp_path / "two"), weights(tmp_path / "resumed")
    other = weights(tmp_path / "other_order")
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=2e-5)
        torch.testing.assert_close(resumed[name], two[name], rtol=1e-4, atol=2e-5)
    assert (other["W_dec"] - one["W_dec"]).abs().max() > 1e-2  # the tolerance is far below a change of data order
    assert not (tmp_path / "two" / CHECKPOINT_FILE).exists()


def test_single_process_resume_from_a_store_is_exact(store_dir, tmp_path):
    single(store_dir, tmp_path / "full")
    part = single(store_dir, tmp_path / "run", stop_after=9)
    assert not part.cfg["training"]["finished"] and (tmp_path / "run" / CHECKPOINT_FILE).exists()
    single(store_dir, tmp_path / "run")
    full, run = weights(tmp_path / "full"), weights(tmp_path / "run")
    for name in full:
        assert torch.equal(full[name], run[name]), name
