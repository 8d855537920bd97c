"""captum.optim's expanded-weights algorithm, re-implemented from its source for the benchmark.

captum 0.9 on PyPI does not ship ``captum.optim`` (it lives on captum's ``optim-wip``
branch), so ``visioncircuits bench circuits`` cannot import it. This is a line-by-line
re-implementation of ``extract_expanded_weights`` from
``captum/optim/_utils/circuits.py`` (pytorch/captum, commit
05bce142f390d7d8fcf8dcf8b38139f0d89a4de0), with ``collect_activations`` /
``ActivationFetcher`` from ``captum/optim/_utils/models.py`` and
``captum/optim/_core/output_hook.py``:

1. one forward pass of the (already linearised) model on ``torch.zeros(1, 3, S, S)``, with
   forward hooks keeping the outputs of ``target1`` and ``target2`` and aborting the
   forward once both are captured;
2. the centre of ``target2`` read at ``((H - 1) // 2, (W - 1) // 2)``;
3. for every upper channel ``i``: ``torch.autograd.grad(t_center[:, i], [activ1],
   grad_outputs=ones, retain_graph=True)``, concatenated;
4. the optional crop: captum's ``center_crop`` of the lower map (start ``(H - crop) // 2``).

captum expects the caller to have linearised the model (``skip_layers(model, nn.ReLU)``,
``replace_max_with_avgconst_pool2d``); here the caller passes the linearised copy from
:func:`visioncircuits.circuits.linearize.linearize` and we run inside
:func:`~visioncircuits.circuits.linearize.linear_functions`. As in captum's usual setting the
parameters require gradients (that is what gives ``activ1`` a graph on a zero input).
"""

from __future__ import annotations

import torch


class _Abort(Exception):
    pass


def captum_extract_expanded_weights(
    lin_model, target1: str, target2: str, crop: int | None = None, size: int | None = None
) -> torch.Tensor:
    """captum.optim's ``extract_expanded_weights`` on a linearised HookedModel (layer names)."""
    from visioncircuits.circuits.expanded import centre_crop
    from visioncircuits.circuits.linearize import linear_functions

    size = int(size or lin_model.spec.input_size)
    outputs: dict = {}

    def keep(out, layer):
        outputs.setdefault(layer, out)
        if len(outputs) == 2:
            raise _Abort
        return None

    flags = [p.requires_grad for p in lin_model.parameters()]
    try:
        for p in lin_model.parameters():
            p.requires_grad_(True)
        with torch.enable_grad(), linear_functions():
            try:
                with lin_model.hooks([(target1, keep), (target2, keep)]):
                    lin_model(torch.zeros(1, 3, size, size, device=lin_model.device))
            except _Abort:
                pass
            activ1, activ2 = outputs[target1], outputs[target2]
            if activ2.dim() == 4:
                t_center = activ2[:, :, (activ2.size(2) - 1) // 2, (activ2.size(3) - 1) // 2]
            else:
                t_center = activ2
            rows = []
            for i in range(activ2.size(1)):
                (g,) = torch.autograd.grad(
                    outputs=t_center[:, i],
                    inputs=[activ1],
                    grad_outputs=torch.ones_like(t_center[:, i]),
                    retain_graph=True,
                )
                rows.append(g)
            w = torch.cat(rows, 0)
    finally:
        for p, f in zip(lin_model.parameters(), flags, strict=True):
            p.requires_grad_(f)
    return centre_crop(w.detach(), crop, center="captum") if crop is not None else w.detach()
