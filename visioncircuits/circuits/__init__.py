"""Circuits: how features of one layer combine into features of the next.

Data-free expanded weights (:mod:`.expanded`, on the linearised model of :mod:`.linearize`),
data-dependent attribution between features (:mod:`.attribution`), circuit graphs
(:mod:`.graph`, pruned by :mod:`.prune`) and their exports (:mod:`.export`, the HTML
diagram in :mod:`.diagram`), checked against ground truth on the toy zoo (:mod:`.toy`).
"""
from visioncircuits.circuits.attribution import ActivationGradient, Conductance, IntegratedGradients
from visioncircuits.circuits.config import CircuitConfig
from visioncircuits.circuits.expanded import ExpandedWeights, expanded_weights, expanded_weights_loop
from visioncircuits.circuits.export import export_all, write_graph
from visioncircuits.circuits.graph import build_circuit
from visioncircuits.circuits.prune import prune_graph

__all__ = [
    "CircuitConfig",
    "ExpandedWeights",
    "expanded_weights",
    "expanded_weights_loop",
    "ActivationGradient",
    "IntegratedGradients",
    "Conductance",
    "build_circuit",
    "prune_graph",
    "export_all",
    "write_graph",
]
