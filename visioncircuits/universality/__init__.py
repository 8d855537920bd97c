"""Universality: do different networks learn the same features?

Layer similarity (CKA family, CCA family, Procrustes, mutual k-NN), minibatch CKA over any
number of images, unit matching with null baselines, stimulus transfer, and the report.

Modules: ``measures`` (similarity measures), ``matching`` (unit matching, nulls, minibatch
CKA), ``probes`` (probe images, activations, stimulus transfer), ``compare`` (the streaming
comparison), ``report`` (figures and pages), ``toy`` (toy-world probes and labels),
``pipeline`` (``run_universality``). The module paths before the merge (``cka``, ``nulls``,
``activations``...) still import, as aliases of the merged modules.
"""
import importlib
import importlib.abc
import importlib.util
import sys

from visioncircuits.universality.compare import (
    CompareConfig,
    CompareResult,
    CompareSettings,
    cka_matrices,
    compare,
)
from visioncircuits.universality.matching import (
    CrossCorrelation,
    Match,
    MinibatchCKA,
    full_cka_matrix,
    match_units,
    significance,
)
from visioncircuits.universality.measures import (
    METRICS,
    linear_cka,
    mean_squared_cca,
    mutual_knn,
    procrustes_distance,
    procrustes_similarity,
    pwcca,
    rbf_cka,
    similarity,
    svcca,
)
from visioncircuits.universality.pipeline import ReportConfig, ReportOptions, run_universality
from visioncircuits.universality.probes import (
    FolderProbes,
    TensorProbes,
    stimulus_transfer,
)

_MOVED = {  # old module -> merged module (deprecated paths, kept for one release)
    "features": "measures", "cka": "measures", "cca": "measures", "similarity": "measures",
    "nulls": "matching", "minibatch": "matching", "activations": "probes", "transfer": "probes",
    "figures": "report", "labels": "toy",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import visioncircuits.universality.cka`` gives the merged ``measures`` module."""

    def find_spec(self, fullname, path=None, target=None):
        pkg, _, old = fullname.rpartition(".")
        if pkg == __name__ and old in _MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(f"{__name__}.{_MOVED[spec.name.rpartition('.')[2]]}")

    def exec_module(self, module):
        pass


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())
__all__ = [
    "linear_cka",
    "rbf_cka",
    "mean_squared_cca",
    "svcca",
    "pwcca",
    "procrustes_similarity",
    "procrustes_distance",
    "mutual_knn",
    "similarity",
    "METRICS",
    "MinibatchCKA",
    "full_cka_matrix",
    "CrossCorrelation",
    "Match",
    "match_units",
    "significance",
    "compare",
    "cka_matrices",
    "CompareConfig",
    "CompareSettings",
    "CompareResult",
    "stimulus_transfer",
    "run_universality",
    "ReportConfig",
    "ReportOptions",
    "FolderProbes",
    "TensorProbes",
]
