"""Circuit metrics on the toy zoo: each circuit method's class circuits, measured by ablation.

For one toy model and each class logit, the units of the two main layers below the logits are
ranked by every method of :data:`METHODS` on images of the class; the faithfulness curve
(top 0 %, 10 %, ..., 100 % of each layer) and its area compare the methods, and the 10 %
circuit (at most 10 % of the spanned units, floor per layer) is measured against random
circuits of the same size per layer. Mean ablation with means over balanced reference images;
measured on other images of the class. Used by ``scripts/reproduce_circuit_faithfulness.py``
and its test.
"""
from __future__ import annotations

import torch

METHODS = ("weights", "activation_x_gradient", "integrated_gradients", "attribution_patching")
LABELS = {"weights": "weights", "activation_x_gradient": "act x grad", "integrated_gradients": "integrated gradients",
          "attribution_patching": "attribution patching"}
RANK = "positive"
DEPTH = 2
N_REF, N_SCORE, N_HELD, N_NULL = 200, 16, 16, 100
REF_SEED, SCORE_SEED, HELD_SEED, NULL_SEED = 91000, 92000, 93000, 0
FRACTIONS = tuple(i / 10 for i in range(11))
SMALL = 0.1  # the circuit size of the aim: at most 10 % of the units of the spanned layers
AIM = 0.8


def toy_images(n_classes: int, quick: bool) -> dict:
    """Reference (balanced), scoring and held-out images (per class); the same for every model."""
    from visioncircuits.toyworld import generate

    n_ref = 60 if quick else N_REF
    return {
        "reference": generate(n_ref, seed=REF_SEED).images,
        "score": [generate(N_SCORE, seed=SCORE_SEED + c, classes=[c] * N_SCORE).images for c in range(n_classes)],
        "held": [generate(N_HELD, seed=HELD_SEED + c, classes=[c] * N_HELD).images for c in range(n_classes)],
    }


def measure_model(name: str, data: dict, classes: list[int], n_null: int) -> dict:
    """Every class of one model: curves and AUC per method, the 10 % circuit against the null."""
    from visioncircuits.circuits.graph import lower_chain
    from visioncircuits.circuits.unit_scores import unit_scores
    from visioncircuits.interventions.ablation import reference_means
    from visioncircuits.interventions.faithfulness import CircuitProbe, z_score
    from visioncircuits.interventions.faithfulness_curve import (
        curve_auc,
        faithfulness_curve,
        ranking,
        top_units,
        units_at,
    )
    from visioncircuits.keys import LOGITS
    from visioncircuits.units import Unit
    from visioncircuits.zoo import load_model

    model = load_model(name)
    layers = lower_chain(model, Unit(LOGITS, 0, kind="logit"))[:DEPTH]
    means = reference_means(model, layers, data["reference"])
    held = torch.cat([data["held"][c] for c in classes])
    groups = torch.cat([torch.full((N_HELD,), i) for i in range(len(classes))])
    class_ids = torch.tensor(classes)
    # every class at once: image i reads the logit of its own class
    everything = CircuitProbe(model, lambda x: model(x)[:, class_ids], held, layers, means=means, groups=groups)
    sizes = {k: units_at(SMALL, n) for k, n in everything.sizes.items()}
    null_f, null_c = everything.random_null(sizes, n_null, NULL_SEED)  # (n_null, classes)
    out = {"layers": layers, "units": dict(everything.sizes), "small_circuit": sizes, "classes": {}}
    for i, c in enumerate(classes):
        cls = model.spec.class_names[c]
        probe = CircuitProbe(model, f"logit:{c}", data["held"][c], layers, means=means)
        row = {"m_full": float(probe.full[0]), "m_empty": float(probe.empty[0]),
               "null": {"faithfulness_mean": float(null_f[:, i].mean()), "faithfulness_std": float(null_f[:, i].std()),
                        "completeness_mean": float(null_c[:, i].mean()),
                        "completeness_std": float(null_c[:, i].std())},
               "methods": {}}
        for method in METHODS:
            scores = unit_scores(model, f"logit:{c}", layers, method, data["score"][c], reference=data["reference"])
            orders = {k: ranking(scores[k], RANK) for k in layers}
            curve = faithfulness_curve(probe, orders, FRACTIONS)[:, 0]
            small = top_units(orders, SMALL)
            f10 = float(curve[FRACTIONS.index(SMALL)])
            c10 = float(probe.completeness(small)[0])
            reach = [f for f, v in zip(FRACTIONS, curve.tolist()) if v >= AIM]
            row["methods"][method] = {
                "auc": float(curve_auc(FRACTIONS, curve)),
                "curve": [round(float(v), 4) for v in curve],
                "faithfulness": f10,
                "completeness": c10,
                "z_faithfulness": z_score(f10, null_f[:, i]),
                "z_completeness": z_score(c10, null_c[:, i]),
                "fraction_for_aim": reach[0] if reach else None,
                "circuit": {k: [int(j) for j in v] for k, v in small.items()},
            }
        out["classes"][cls] = row
    return out


