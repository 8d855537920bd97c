"""SAEConfig: one typed, validated reader of cfg.json; old files still load; TrainConfig field errors;
get_sae per device."""
from __future__ import annotations

import json

import pytest
import torch

from visioncircuits.cli import main
from visioncircuits.errors import InputError, UnknownNameError
from visioncircuits.sae.config import (
    BatchTopKSAEConfig,
    ConfigFieldError,
    ReLUSAEConfig,
    SAEConfig,
    TopKSAEConfig,
    read_config,
)
from visioncircuits.sae.io import load_sae, save_sae
from visioncircuits.sae.models import SparseAutoencoder
from visioncircuits.sae.train import TrainConfig
from visioncircuits.unit_activations import get_sae, resolve_unit, sae_config

# A cfg.json exactly as `sae train` / the demo wrote it before SAEConfig existed (values trimmed, keys and order kept).
OLD_CFG = {
    "architecture": "topk", "d_in": 6, "d_sae": 8, "k": 2, "input_scale": 0.2857, "threshold": 0.0,
    "model": "tiny", "layer": "relu2", "layer_shape": [6, 16, 16],
    "training_data": {"kind": "toyworld", "augment": "fresh scenes", "positions_per_image": None},
    "training": {"d_sae": 8, "k": 2, "architecture": "topk", "steps": 6, "finished": True, "fingerprint": {"seed": 0}},
    "metrics": {"explained_variance": 0.5, "l0": 2.0}, "format_version": 1,
}


def _write(tmp_path, data, name="s"):
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    (d / "cfg.json").write_text(json.dumps(data))
    return d


def test_create_picks_the_class_per_architecture_and_round_trips():
    cases = (("topk", TopKSAEConfig, 3), ("batchtopk", BatchTopKSAEConfig, 3), ("relu", ReLUSAEConfig, None))
    for arch, cls, k in cases:
        cfg = SAEConfig.create(arch, d_in=6, d_sae=8, k=k, layer="relu2", notes="kept")
        assert type(cfg) is cls and cfg.architecture == arch
        d = cfg.to_dict()
        assert d["architecture"] == arch and d["notes"] == "kept" and d["format_version"] == 1
        assert SAEConfig.from_dict(d) == cfg
    with pytest.raises(InputError, match="abstract"):
        SAEConfig(d_in=6, d_sae=8)


def test_old_cfg_json_loads_unchanged_and_reads_like_a_dict(tmp_path):
    d = _write(tmp_path, OLD_CFG)
    cfg = read_config(d)
    assert isinstance(cfg, TopKSAEConfig) and cfg.k == 2 and cfg.layer == "relu2" and cfg.layer_shape == [6, 16, 16]
    # same keys, same order: files stay identical
    assert cfg.to_dict() == OLD_CFG and list(cfg.to_dict()) == list(OLD_CFG)
    # dict-style access used by existing callers
    assert cfg["layer"] == "relu2" and cfg["training"]["finished"] and cfg.get("nope", 5) == 5 and "metrics" in cfg
    with pytest.raises(KeyError):
        cfg["nope"]
    assert dict(cfg)["d_sae"] == 8
    # a ReLU SAE saved with an (ignored) k by older code still loads, without the k
    old_relu = {**OLD_CFG, "architecture": "relu", "k": 4}
    assert read_config(_write(tmp_path, old_relu, "r")).k is None


@pytest.mark.parametrize("change, message", [
    ({"k": 0}, r"TopKSAEConfig\.k must be between 1 and d_sae \(8\), got 0"),
    ({"k": 9}, r"TopKSAEConfig\.k must be between 1 and d_sae \(8\), got 9"),
    ({"k": None}, r"TopKSAEConfig\.k must be an integer between 1 and d_sae \(8\), got None"),
    ({"d_in": "6"}, r"TopKSAEConfig\.d_in must be an integer, got '6' \(str\)"),
    ({"d_sae": 0}, r"TopKSAEConfig\.d_sae must be at least 1, got 0"),
    ({"d_in": True}, r"TopKSAEConfig\.d_in must be an integer"),
    ({"input_scale": 0}, r"TopKSAEConfig\.input_scale must be positive, got 0"),
    ({"input_scale": "big"}, r"TopKSAEConfig\.input_scale must be a finite number"),
    ({"layer": 5}, r"TopKSAEConfig\.layer must be a string or null, got 5"),
    ({"layer_shape": [6, -1]}, r"TopKSAEConfig\.layer_shape must be a list of positive integers"),
    ({"training": [1, 2]}, r"TopKSAEConfig\.training must be an object or null"),
    ({"architecture": "batchtopk", "threshold": -0.5}, r"BatchTopKSAEConfig\.threshold must be >= 0, got -0\.5"),
    ({"format_version": 2}, r"TopKSAEConfig\.format_version is 2: this file needs a newer visioncircuits"),
])
def test_bad_fields_name_the_field_and_the_file(tmp_path, change, message):
    d = _write(tmp_path, {**OLD_CFG, **change})
    with pytest.raises(ConfigFieldError, match=message) as info:
        read_config(d)
    assert str(info.value).startswith(f"corrupt SAE config {d / 'cfg.json'}: ")
    assert "--" not in str(info.value)  # library errors never talk CLI


@pytest.mark.parametrize("data, message", [
    ([1, 2, 3], "must be a JSON object, got list"),
    ("topk", "must be a JSON object, got str"),
    ({"d_in": 6, "d_sae": 8}, "has no 'architecture'"),
    ({"architecture": "topk", "d_in": 6, "k": 2}, "has no 'd_sae'"),
    ({"architecture": ["topk"], "d_in": 6, "d_sae": 8}, r"SAEConfig\.architecture must be a string"),
])
def test_wrong_shape_json_is_one_input_error(tmp_path, data, message):
    d = _write(tmp_path, data)
    with pytest.raises(InputError, match=message):
        read_config(d)


def test_unknown_architecture_suggests_names(tmp_path):
    with pytest.raises(UnknownNameError, match="closest: topk"):
        read_config(_write(tmp_path, {**OLD_CFG, "architecture": "topkk"}))


def test_one_reader_for_unit_addresses_and_loading(tmp_path, tiny_model):
    """resolve_unit and load_sae read cfg.json through the same checks (they used to differ)."""
    bad = _write(tmp_path, {**OLD_CFG, "k": 0})
    for read in (sae_config, load_sae, lambda d: resolve_unit(tiny_model, f"sae:{d}:0")):
        with pytest.raises(ConfigFieldError, match=r"TopKSAEConfig\.k must be between 1 and d_sae"):
            read(bad)


def test_update_validates_and_keeps_unknown_keys():
    cfg = SAEConfig.create("topk", d_in=6, d_sae=8, k=2)
    cfg.update({"layer": "relu2", "my_note": 1}, metrics={"l0": 2})
    assert cfg.layer == "relu2" and cfg.extra == {"my_note": 1} and cfg["metrics"] == {"l0": 2}
    with pytest.raises(ConfigFieldError, match=r"TopKSAEConfig\.k must be between"):
        cfg.update(k=100)
    with pytest.raises(ConfigFieldError, match="fixed to 'topk'"):
        cfg.update(architecture="relu")


def test_module_cfg_is_typed_and_saved_as_before(tmp_path):
    sae = SparseAutoencoder(6, 8, "batchtopk", k=2, cfg={"layer": "relu2", "model": "tiny"})
    assert isinstance(sae.cfg, BatchTopKSAEConfig) and (sae.d_in, sae.d_sae, sae.k) == (6, 8, 2)
    with torch.no_grad():
        sae.input_scale.fill_(0.5)
        sae.threshold.fill_(0.25)
    save_sae(sae, tmp_path / "s", extra_cfg={"metrics": {"l0": 2.0}})
    saved = json.loads((tmp_path / "s" / "cfg.json").read_text())
    assert saved["input_scale"] == 0.5 and saved["threshold"] == 0.25 and saved["metrics"] == {"l0": 2.0}
    back = load_sae(tmp_path / "s")
    assert back.cfg == sae.cfg and float(back.threshold) == 0.25
    with pytest.raises(InputError, match="these weights are a batchtopk SAE 6->8"):
        back.cfg = SAEConfig.create("topk", d_in=6, d_sae=9, k=2)
    with pytest.raises(ConfigFieldError, match=r"TopKSAEConfig\.k must be between 1 and d_sae \(8\), got 9"):
        SparseAutoencoder(6, 8, "topk", k=9)
    back.cfg.update(d_sae=16)  # a config edited to disagree with the weights is caught before it is saved
    assert back.d_sae == 8
    with pytest.raises(InputError, match="SAE config says 6 -> 16 latents, the weights are 6 -> 8"):
        save_sae(back, tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_train_config_errors_name_fields_and_the_cli_names_flags(tmp_path, capsys):
    with pytest.raises(ConfigFieldError, match=r"^TrainConfig\.k must be between 1 and d_sae \(8\), got 9$"):
        TrainConfig(d_sae=8, k=9)
    with pytest.raises(ConfigFieldError, match=r"^TrainConfig\.lr must be positive, got 0"):
        TrainConfig(lr=0)
    with pytest.raises(ConfigFieldError, match=r"^TrainConfig\.decay_start must be between 0 and 1"):
        TrainConfig(decay_start=1.5)
    assert TrainConfig(architecture="relu", k=None).k is None
    for argv, flag_message in ((["--latents", "0", "--k", "1"], "--latents must be at least 1, got 0"),
                               (["--latents", "8", "--k", "9"], "--k must be between 1 and --latents (8), got 9"),
                               (["--latents", "8", "--k", "2", "--lr", "-1"], "--lr must be positive, got -1.0"),
                               (["--latents", "8", "--k", "2", "--l1", "-1", "--arch", "relu"],
                                "--l1 must be >= 0, got -1.0")):
        code = main(["sae", "train", "tiny", "relu2", "--toyworld", "--out", str(tmp_path / "o"), *argv])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err == f"error: {flag_message}", err
        assert not (tmp_path / "o").exists()


def test_get_sae_gives_each_device_its_own_copy(tmp_path):
    sae = SparseAutoencoder(6, 8, "topk", k=2, cfg={"layer": "relu2"})
    save_sae(sae, tmp_path / "s")
    on_cpu = get_sae(str(tmp_path / "s"), "cpu")
    on_meta = get_sae(str(tmp_path / "s"), torch.device("meta"))  # a second device that exists on every machine
    assert on_meta is not on_cpu and on_meta.W_enc.device.type == "meta"
    assert on_cpu.W_enc.device.type == "cpu" and torch.equal(on_cpu.W_enc, sae.W_enc)  # the CPU copy was not moved
    # cached; the default device is the CPU
    assert get_sae(str(tmp_path / "s"), "cpu") is on_cpu and get_sae(str(tmp_path / "s")) is on_cpu
    # a retrained SAE in the same folder is picked up, not served stale from the cache
    save_sae(SparseAutoencoder(6, 8, "topk", k=3, cfg={"layer": "relu2"}), tmp_path / "s")
    assert get_sae(str(tmp_path / "s"), "cpu").k == 3
