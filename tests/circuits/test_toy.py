"""On the toy zoo, class circuits recover the classes' ground-truth primitives."""
from __future__ import annotations

import pytest

from visioncircuits.errors import InputError

MODEL = "toy-vgg-s0"


@pytest.fixture(scope="module")
def toy_model():
    from visioncircuits.zoo import load_model

    return load_model(MODEL)


@pytest.fixture(scope="module")
def labels(toy_model):
    from visioncircuits.circuits.toy import unit_primitives

    return unit_primitives(toy_model, "relu3", "scene", n_label=300)


@pytest.mark.parametrize("method, k, floor", [("weights", 2, 0.3), ("attribution", 2, 0.5)])
def test_class_logits_read_their_own_primitives(toy_model, labels, method, k, floor):
    from visioncircuits.circuits.toy import class_scores, precision_at_k
    from visioncircuits.toyworld import CLASS_PRIMITIVES, CLASSES

    scores = class_scores(toy_model, "relu3", method, n_images=16)
    p = precision_at_k(scores, labels, k, "relu3")
    assert [c.cls for c in p.classes] == CLASSES
    for c in p.classes:
        assert len(c.units) == k and c.precision == sum(lab in CLASS_PRIMITIVES[c.cls] for lab in c.labels) / k
        assert all(scores[CLASSES.index(c.cls), int(u.split(":")[1])] > 0 for u in c.units)  # excitatory only
    # random units would score p.chance (about 0.12); measured 0.55 (weights) and 0.7 (attribution)
    assert p.mean >= floor and p.mean >= 2.5 * p.chance, p.as_row()
    r = precision_at_k(scores, labels, "auto", "relu3")  # k = the class's number of primitives
    assert [len(c.units) for c in r.classes] == [len(CLASS_PRIMITIVES[c]) for c in CLASSES]


def test_demo_stage_draws_the_car_circuit(toy_model, tmp_path):
    from visioncircuits.demo import DemoContext
    from visioncircuits.demo.stage_30_circuits import run

    arts = run(DemoContext(out=tmp_path, quick=True))
    html = (tmp_path / arts[0].href).read_text()
    assert "kernel-tooltip" in html and "car" in html
    assert (tmp_path / "circuits" / "precision.json").exists()
    assert 0 <= arts[2].metrics["precision@3"][f"{MODEL} weights"] <= 1


def test_precision_needs_a_toy_model(tiny_model):
    from visioncircuits.circuits.toy import class_primitive_precision

    with pytest.raises(InputError, match="not a toy-zoo model"):
        class_primitive_precision(tiny_model)
