"""On the toy zoo, class circuits recover the classes' ground-truth primitives."""
from __future__ import annotations

from pathlib import Path

import pytest

from visioncircuits.errors import InputError

MODEL = "toy-vgg-s0"


@pytest.fixture(scope="module")
def toy_model():
    from visioncircuits.zoo import get_spec, load_model

    if not Path(get_spec(MODEL).default_weights).exists():
        pytest.skip(f"{MODEL} weights not in models/toy (train with 'visioncircuits toyworld train vgg --seed 0')")
    return load_model(MODEL)


def test_class_logits_read_their_own_primitives(toy_model):
    from visioncircuits.circuits.toy import class_primitive_precision
    from visioncircuits.toyworld import CLASS_PRIMITIVES, CLASSES

    p = class_primitive_precision(toy_model, k=3, method="weights", n_label=300)
    assert [c.cls for c in p.classes] == CLASSES
    for c in p.classes:
        assert len(c.units) == 3 and c.precision == sum(lab in CLASS_PRIMITIVES[c.cls] for lab in c.labels) / 3
    assert p.mean >= 0.6, p.as_row()  # chance is about 0.1 (2-3 of 26 primitives)


def test_demo_stage_draws_the_car_circuit(toy_model, tmp_path):
    from visioncircuits.demo import DemoContext
    from visioncircuits.demo.stage_30_circuits import run

    arts = run(DemoContext(out=tmp_path, quick=True))
    html = (tmp_path / arts[0].href).read_text()
    assert "kernel-tooltip" in html and "car" in html
    assert (tmp_path / "circuits" / "precision.json").exists()
    assert arts[2].metrics["precision@3"][f"{MODEL} weights"] >= 0.5


def test_precision_needs_a_toy_model(tiny_model):
    from visioncircuits.circuits.toy import class_primitive_precision

    with pytest.raises(InputError, match="not a toy-zoo model"):
        class_primitive_precision(tiny_model)
