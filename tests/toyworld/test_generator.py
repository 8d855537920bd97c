"""The generator: determinism, annotations that match the pixels, probe sets, clear errors."""
import numpy as np
import pytest
import torch

from visioncircuits.errors import InputError, UnknownNameError
from visioncircuits.toyworld import CLASS_PRIMITIVES, CLASSES, PRIMITIVE_INDEX, PRIMITIVES, generate, probe_set


@pytest.fixture(scope="module")
def batch():
    return generate(120, seed=3, with_masks=True)


def test_vocabulary():
    assert len(CLASSES) >= 8 and len(set(PRIMITIVES)) == len(PRIMITIVES)
    assert {f"curve_{a}deg" for a in range(0, 360, 45)} <= set(PRIMITIVES)
    for c, prims in CLASS_PRIMITIVES.items():
        assert prims and set(prims) <= set(PRIMITIVES), c
    assert CLASS_PRIMITIVES["face"] == ["ring", "dot", "curve_270deg"]


def test_shapes_and_ranges(batch):
    assert batch.images.shape == (120, 3, 64, 64) and batch.images.dtype == torch.float32
    assert 0 <= batch.images.min() and batch.images.max() <= 1
    assert batch.labels.dtype == torch.long and set(batch.labels.tolist()) <= set(range(len(CLASSES)))
    assert batch.present.shape == (120, len(PRIMITIVES)) and batch.masks.shape == (120, len(PRIMITIVES), 64, 64)


def test_deterministic_and_prefix_stable(batch):
    again = generate(120, seed=3)
    assert torch.equal(again.images, batch.images) and torch.equal(again.labels, batch.labels)
    assert torch.equal(generate(7, seed=3).images, batch.images[:7])
    other = generate(7, seed=4)
    assert not torch.equal(other.images, batch.images[:7])


def test_class_constituents_present_and_clutter_excluded(batch):
    for i, lab in enumerate(batch.labels.tolist()):
        cls = CLASSES[lab]
        objs = {p for inst in batch.params[i] if inst["role"] == "object" for p in inst["prims"]}
        assert objs == set(CLASS_PRIMITIVES[cls]), (i, cls, objs)
        clutter = {p for inst in batch.params[i] if inst["role"] == "clutter" for p in inst["prims"]}
        assert not clutter & set(CLASS_PRIMITIVES[cls])
        for p in objs | clutter:
            assert batch.present[i, PRIMITIVE_INDEX[p]]
    # clutter really happens: most images hold primitives from outside their class
    extra = [
        (batch.present[i].sum().item() > len(CLASS_PRIMITIVES[CLASSES[l]])) for i, l in enumerate(batch.labels.tolist())
    ]
    assert np.mean(extra) > 0.6


def test_masks_match_presence_and_pixels(batch):
    nonempty = batch.masks.flatten(2).any(2)
    assert torch.equal(nonempty, batch.present)
    # drawn primitives change the pixels: inside a visible mask the image differs from the
    # image's background colour far more than the background noise does
    for i in range(20):
        bg = torch.tensor(batch.backgrounds[i]["rgb"])[:, None]
        for p in batch.present[i].nonzero()[:, 0].tolist():
            if PRIMITIVES[p] in ("freq_boundary", "curve_90deg") and batch.labels[i] in (
                CLASSES.index("beach"),
                CLASSES.index("dog_ear"),
            ):
                continue  # annotation-only outlines: checked below
            pix = batch.images[i][:, batch.masks[i, p]]
            assert (pix - bg).abs().amax(0).mean() > 0.12, (i, PRIMITIVES[p])


def test_mask_location_follows_params(batch):
    """A dot's mask is centred on its annotated centre."""
    checked = 0
    for i in range(len(batch)):
        for inst in batch.params[i]:
            if inst["prims"] == ["dot"] and inst["role"] == "clutter":
                ys, xs = batch.masks[i, PRIMITIVE_INDEX["dot"]].nonzero(as_tuple=True)
                assert (
                    abs(xs.float().mean() + 0.5 - inst["cx"]) < 1.0 and abs(ys.float().mean() + 0.5 - inst["cy"]) < 1.0
                )
                checked += 1
    assert checked > 0


def test_class_balance():
    from visioncircuits.toyworld.generate import plan

    labels = torch.tensor(plan(600, seed=11)[2])
    counts = torch.bincount(labels, minlength=len(CLASSES))
    assert counts.min() > 30


def test_other_sizes_and_forced_classes():
    b = generate(4, seed=0, size=32, classes=[0, 1, 2, 3])
    assert b.images.shape == (4, 3, 32, 32) and b.labels.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("bad", [dict(n=-1), dict(n=2, size=4), dict(n=2, classes=[0])])
def test_bad_input(bad):
    with pytest.raises(InputError):
        generate(**bad)


def test_probe_sets():
    curve = probe_set("curve", steps=8, radii=(6.0,))
    assert curve.images.shape == (8, 3, 64, 64)
    assert curve.column("orientation").tolist() == [0, 45, 90, 135, 180, 225, 270, 315]
    assert curve.primitive == [f"curve_{a}deg" for a in range(0, 360, 45)]
    # an arc bulging right has its dark pixels right of the centre, one bulging left to the left
    dark = lambda im: (im.mean(0) < 0.4).nonzero().float().mean(0)  # noqa: E731
    assert dark(curve.images[0])[1] > 32 > dark(curve.images[4])[1]
    assert dark(curve.images[2])[0] < 32 < dark(curve.images[6])[0]  # 90 bulges up, 270 down
    col = probe_set("colour", steps=6)
    centre = col.images[:, :, 32, 32]
    assert centre[0].argmax() == 0 and centre[2].argmax() == 1 and centre[4].argmax() == 2  # red, green, blue hues
    pos = probe_set("position", steps=3, primitive="dot")
    ys, xs = (pos.images[0].mean(0) < 0.4).nonzero(as_tuple=True)
    assert abs(xs.float().mean() - 10) < 2 and abs(ys.float().mean() - 10) < 2
    prim = probe_set("primitive", per_primitive=2)
    assert len(prim) == 2 * len(PRIMITIVES) and set(prim.primitive) == set(PRIMITIVES)
    with pytest.raises(UnknownNameError):
        probe_set("curvy")
