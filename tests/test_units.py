"""Unit addresses: every accepted form, every rejection, and validation against a model."""
from __future__ import annotations

import json

import pytest
import torch

from visioncircuits.errors import InputError, UnknownNameError
from visioncircuits.unit_activations import resolve_unit, unit_map, unit_value
from visioncircuits.units import Unit, parse_range, parse_unit


@pytest.mark.parametrize("text,expected", [
    ("mixed3b:379", Unit("mixed3b", 379)),
    ("  mixed4a_3x3_pre_relu_conv:12 ", Unit("mixed4a_3x3_pre_relu_conv", 12)),
    ("layer3.2.conv2:5@3,4", Unit("layer3.2.conv2", 5, 3, 4)),
    ("layer1:0@0,0", Unit("layer1", 0, 0, 0)),
    ("sae:runs/sae_mixed3b:17", Unit(None, 17, sae="runs/sae_mixed3b", kind="sae")),
    ("sae:C:/saes/x:2@1,5", Unit(None, 2, 1, 5, sae="C:/saes/x", kind="sae")),
    ("logit:207", Unit(None, 207, kind="logit")),
    ("class:3", Unit(None, 3, kind="logit")),
])
def test_parse_unit_accepts_every_form(text, expected):
    unit = parse_unit(text)
    assert unit == expected
    assert parse_unit(str(unit)) == unit  # round trip


@pytest.mark.parametrize("text", ["mixed3b", "mixed3b:", "mixed3b:abc", ":5", "mixed3b:5@3", "mixed3b:5@a,b",
                                  "mixed 3b:5", "", "sae:dir", "logit:x"])
def test_parse_unit_rejects_with_the_accepted_forms(text):
    with pytest.raises(InputError, match="LAYER:CHANNEL"):
        parse_unit(text)


def test_unit_properties():
    u = parse_unit("layer3.2.conv2:5@3,4")
    assert u.has_position and not parse_unit("x:1").has_position
    assert u.slug == "layer3.2.conv2_5_3_4"
    assert "/" not in parse_unit("sae:runs/a:1").slug


@pytest.mark.parametrize("text,n,expected", [
    ("0:4", 10, [0, 1, 2, 3]), ("5", 10, [5]), ("1,4,9", 10, [1, 4, 9]), ("all", 3, [0, 1, 2]),
    (":", 2, [0, 1]), (":3", 10, [0, 1, 2]), ("8:", 10, [8, 9]), ("0:2, 7", 10, [0, 1, 7]),
])
def test_parse_range(text, n, expected):
    assert parse_range(text, n) == expected


def test_parse_range_errors():
    with pytest.raises(InputError, match="unit 10 out of range: the layer has 10 units"):
        parse_range("5:11", 10)
    with pytest.raises(InputError, match="out of range"):
        parse_range("-1", 10)
    with pytest.raises(InputError, match="cannot parse unit range"):
        parse_range("a:b", 10)


def test_resolve_unit_validates_against_the_model(tiny_model, tmp_path):
    assert resolve_unit(tiny_model, "relu2:5@15,15") == Unit("relu2", 5, 15, 15)
    with pytest.raises(UnknownNameError, match="closest: relu2"):
        resolve_unit(tiny_model, "relu3:1")
    with pytest.raises(InputError, match="has 6 channels"):
        resolve_unit(tiny_model, "relu2:6")
    with pytest.raises(InputError, match="has 6 channels"):
        resolve_unit(tiny_model, "relu2:-1")
    with pytest.raises(InputError, match="position @16,0 out of range"):
        resolve_unit(tiny_model, "relu2:1@16,0")
    with pytest.raises(InputError, match="tiny has 3 classes"):
        resolve_unit(tiny_model, "logit:3")
    with pytest.raises(InputError, match="no SAE at"):
        resolve_unit(tiny_model, f"sae:{tmp_path / 'missing'}:0")
    (tmp_path / "s").mkdir()
    cfg = {"architecture": "relu", "d_in": 6, "d_sae": 8, "layer": "relu1"}
    (tmp_path / "s" / "cfg.json").write_text(json.dumps(cfg))
    assert resolve_unit(tiny_model, f"sae:{tmp_path / 's'}:7").layer == "relu1"
    with pytest.raises(InputError, match="has 8 latents"):
        resolve_unit(tiny_model, f"sae:{tmp_path / 's'}:8")


def test_unit_map_and_value():
    acts = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    u = parse_unit("x:1")
    assert torch.equal(unit_map(u, acts), acts[:, 1])
    assert torch.equal(unit_value(u, acts), acts[:, 1].mean((1, 2)))
    assert torch.equal(unit_value(parse_unit("x:2@1,0"), acts), acts[:, 2, 1, 0])
    assert unit_map(parse_unit("fc:1"), torch.rand(4, 3)).shape == (4, 1, 1)
