"""Interventions on a HookedModel: ablation, activation and attribution patching, steering.

Every edit is scoped with the model's hooks (a context manager) and works for channels and SAE
latents alike; an SAE latent is edited through its SAE with the error term kept, so only that
latent changes. Submodules: ``ablation`` (zero/mean/resample), ``patching`` (activation
patching), ``attribution_patching`` (first-order estimates), ``steering`` (add a unit's direction),
``faithfulness`` (circuit metrics).
"""

from visioncircuits.interventions.ablation import MeanStore, ablate, reference_means  # noqa: E402, F401
from visioncircuits.interventions.attribution_patching import (  # noqa: E402, F401
    attribution_patching,
    patching_rank_correlation,
)
from visioncircuits.interventions.patching import (  # noqa: E402, F401
    activation_patching,
    logit_diff_metric,
    logit_metric,
    patch,
)
