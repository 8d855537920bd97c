"""The runnable ``Examples:`` blocks of the public entry points stay true (others are +SKIP:
they need data or minutes)."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["visioncircuits.utils", "visioncircuits.featvis.config", "visioncircuits.circuits.config",
           "visioncircuits.universality.measures", "visioncircuits.zoo.registry", "visioncircuits.circuits.expanded"]


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    from visioncircuits.circuits.expanded import ExpandedWeights
    from visioncircuits.zoo import load_model

    mod = importlib.import_module(name)
    res = doctest.testmod(mod, extraglobs={"load_model": load_model, "ExpandedWeights": ExpandedWeights},
                          optionflags=doctest.ELLIPSIS)
    assert res.failed == 0
    assert res.attempted > 0
