"""``primitive_recovery`` on hand-made activations whose answer is known exactly.

A stand-in "model" reads which primitive an image holds (one-hot, written into its pixels)
and puts 24 primitives into 12 channels in superposition: channel c = [primitive c] -
[primitive c + 12]; primitives 24 and 25 reach no channel. Each image holds one primitive.
- Neurons: channel c ranks primitive c's images above all others (AUC 1) but primitive
  c + 12's below all (AUC 0); every other channel is 0 on both (ties, AUC 0.5). So 12 of
  26 primitives are recovered, mean best AUC (12 x 1 + 14 x 0.5) / 26.
- A hand-set ReLU SAE with latents +e_c and -e_c separates each pair: 24 of 26 recovered.
  Primitives 24 and 25 reach no latent; every latent fires on one other primitive's 5 of the
  125 negatives, so their best AUC is 0.5 x (1 - 5/125) = 0.48; mean (24 + 2 x 0.48) / 26.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from visioncircuits.toyworld import PRIMITIVES

N_PER = 5
P = len(PRIMITIVES)  # 26


class _Superposed(nn.Module):
    def __init__(self):
        super().__init__()
        mix = torch.zeros(12, P)
        for c in range(12):
            mix[c, c], mix[c, c + 12] = 1.0, -1.0
        self.register_buffer("mix", mix)
        self.code = nn.Identity()
        self.head = nn.Linear(12, 2)

    def forward(self, x):
        onehot = x[:, 0].flatten(1)[:, :P]  # pixels 0..25 of the red channel say which primitive
        code = self.code((onehot @ self.mix.T)[:, :, None, None])
        return self.head(code.flatten(1))


def _model():
    from visioncircuits.hooks import HookedModel
    from visioncircuits.zoo.spec import ModelSpec

    spec = ModelSpec(name="superposed", family="test", description="hand-made superposition", build=_Superposed,
                     input_size=6, mean=(0.0,) * 3, std=(1.0,) * 3, num_classes=2)
    return HookedModel(_Superposed(), spec, spec.preprocess()).eval()


def _data():
    labels = torch.arange(P).repeat_interleave(N_PER)
    images = torch.zeros(len(labels), 3, 6, 6)
    images[:, 0].view(len(labels), -1)[torch.arange(len(labels)), labels] = 1.0
    present = torch.nn.functional.one_hot(labels, P).bool()
    return SimpleNamespace(images=images, present=present)


def _pair_sae():
    from visioncircuits.sae.models import SparseAutoencoder

    sae = SparseAutoencoder(12, 24, architecture="relu")
    with torch.no_grad():
        eye = torch.eye(12)
        sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sae.W_dec.copy_(torch.cat([eye, -eye], dim=0))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
        sae.input_scale.fill_(1.0)
    return sae.eval()


def test_pair_latents_untangle_the_superposed_pairs():
    from visioncircuits.sae.toy_recovery import primitive_recovery

    rec = primitive_recovery(_model(), "code", _pair_sae(), data=_data(), probe="scenes")
    assert rec.neuron_recovered == pytest.approx(12 / 26)
    assert rec.latent_recovered == pytest.approx(24 / 26)
    s = rec.summary()
    assert s["mean_best_neuron_auc"] == pytest.approx((12 + 14 * 0.5) / 26)
    assert s["mean_best_latent_auc"] == pytest.approx((24 + 2 * 0.48) / 26)
    # which unit wins: latent c for primitive c, latent 12 + c (the -e_c direction) for primitive c + 12
    assert list(rec.latent_index[:24]) == list(range(24))
    assert list(rec.neuron_index[:12]) == list(range(12))
    assert rec.latent_auc[24] == pytest.approx(0.48) and rec.latent_auc[25] == pytest.approx(0.48)


def test_an_identity_sae_recovers_exactly_what_the_neurons_do():
    from visioncircuits.sae.models import SparseAutoencoder
    from visioncircuits.sae.toy_recovery import primitive_recovery

    sae = SparseAutoencoder(12, 12, architecture="relu")
    with torch.no_grad():
        sae.W_enc.copy_(torch.eye(12))
        sae.W_dec.copy_(torch.eye(12))
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    rec = primitive_recovery(_model(), "code", sae.eval(), data=_data(), probe="scenes")
    # ReLU latents keep the positive half of each channel: primitive c still AUC 1; c + 12 now scores 0 on
    # every latent, below the 5 negatives where that latent fires: 0.48, not the neurons' 0.5
    assert rec.latent_recovered == rec.neuron_recovered == pytest.approx(12 / 26)
    assert rec.latent_auc[:12].tolist() == [1.0] * 12 and rec.latent_auc[12:] == pytest.approx([0.48] * 14)


def test_threshold_decides_what_counts_as_recovered():
    from visioncircuits.sae.toy_recovery import primitive_recovery

    rec = primitive_recovery(_model(), "code", _pair_sae(), data=_data(), probe="scenes", threshold=0.5)
    assert rec.latent_recovered == pytest.approx(24 / 26) and rec.neuron_recovered == 1.0  # latents 24, 25: 0.48
    rec = primitive_recovery(_model(), "code", _pair_sae(), data=_data(), probe="scenes", threshold=0.45)
    assert rec.latent_recovered == 1.0


def test_unknown_probe_is_an_input_error():
    from visioncircuits.errors import InputError
    from visioncircuits.sae.toy_recovery import primitive_recovery

    with pytest.raises(InputError, match="probe must be"):
        primitive_recovery(_model(), "code", _pair_sae(), probe="faces")
