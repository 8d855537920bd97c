"""Universality: do different networks learn the same features?

Layer similarity (CKA family, CCA family, Procrustes, mutual k-NN), minibatch CKA over any
number of images, unit matching with null baselines, stimulus transfer, and the report.
"""
from visioncircuits.universality.cca import mean_squared_cca, pwcca, svcca
from visioncircuits.universality.cka import linear_cka, rbf_cka
from visioncircuits.universality.compare import CompareResult, CompareSettings, cka_matrices, compare
from visioncircuits.universality.matching import CrossCorrelation, Match, match_units
from visioncircuits.universality.minibatch import MinibatchCKA, full_cka_matrix
from visioncircuits.universality.nulls import significance
from visioncircuits.universality.pipeline import ReportOptions, run_universality
from visioncircuits.universality.probes import FolderProbes, TensorProbes
from visioncircuits.universality.similarity import METRICS, mutual_knn, procrustes_distance, procrustes_similarity, similarity
from visioncircuits.universality.transfer import stimulus_transfer

__all__ = [
    "linear_cka", "rbf_cka", "mean_squared_cca", "svcca", "pwcca", "procrustes_similarity", "procrustes_distance", "mutual_knn",
    "similarity", "METRICS", "MinibatchCKA", "full_cka_matrix", "CrossCorrelation", "Match", "match_units", "significance",
    "compare", "cka_matrices", "CompareSettings", "CompareResult", "stimulus_transfer", "run_universality", "ReportOptions",
    "FolderProbes", "TensorProbes",
]
