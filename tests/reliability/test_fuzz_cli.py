"""Fuzz every CLI command's unit addresses, layer names, ranges, shards and numbers (hypothesis).

Whatever the flags, a command ends with exit 0 or a clean exit 2 (one ``error:`` line), never
a traceback. Settings that would run are kept tiny (a few steps of a toy model) so the
examples that pass validation finish fast; the rest must be refused before any work.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visioncircuits.reliability.runner import run_in_process

pytestmark = pytest.mark.reliability

M = "toy-vgg-s0"
LAYERS = ["relu1", "relu2", "relu3", "relu4", "conv1", "head", "fc"]
FUZZ = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

ints = st.one_of(st.integers(-3, 4), st.sampled_from([0, -(2**63), 2**63, 10**12, 10**30]))
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -1.0, 1e-3, 1e300]))
junk = st.text(alphabet="abcrelu0123456789:@,/.-_ sae", max_size=14)
layer = st.one_of(st.sampled_from(LAYERS), junk)
index = st.one_of(st.integers(-2, 70), st.sampled_from([2**63, 10**20]))
address = st.one_of(
    st.builds(lambda lay, i: f"{lay}:{i}", layer, index),
    st.builds(lambda lay, i, y, x: f"{lay}:{i}@{y},{x}", layer, index, st.integers(-2, 40), st.integers(-2, 40)),
    st.builds(lambda i: f"logit:{i}", index),
    st.builds(lambda d, i: f"sae:{d}:{i}", st.sampled_from(["", "nowhere", "/", "."]), index),
    junk,
)
unit_range = st.one_of(
    st.builds(lambda a, b: f"{a}:{b}", st.integers(-3, 30), st.integers(-3, 30)),
    st.lists(st.integers(-2, 30), min_size=1, max_size=4).map(lambda xs: ",".join(map(str, xs))),
    st.sampled_from(["all", ":", "", " ", "3:", ":2", "a:b", "1,,2"]), junk,
)
shard = st.one_of(st.builds(lambda k, n: f"{k}/{n}", st.integers(-1, 4), st.integers(-1, 4)),
                  st.sampled_from(["", "1", "/", "a/b", "1/2/3"]))


def opt(flag: str, values) -> st.SearchStrategy:
    """Either no flag, or the flag with a fuzzed value (as text, as a user types it)."""
    return st.one_of(st.just([]), values.map(lambda v: [flag, str(v)]))


def check(argv: list[str]) -> None:
    out = Path(tempfile.mkdtemp(prefix="vcfuzz-"))
    try:
        res = run_in_process([a.replace("{out}", str(out / "o")) for a in argv])
        assert not res.traceback, f"{argv}: traceback\n{res.stderr[-2000:]}"
        assert res.ok(), f"{argv}: exit {res.code}, stderr {res.stderr[-600:]!r}"
    finally:
        shutil.rmtree(out, ignore_errors=True)


def flat(parts) -> list[str]:
    return [a for p in parts for a in p]


@FUZZ
@given(st.lists(address, min_size=1, max_size=3), st.tuples(opt("--steps", st.integers(-2, 2)), opt("--size", ints),
       opt("--lr", floats), opt("--batch-size", ints), opt("--seed", ints), opt("--init-sd", floats)))
def test_render(units, opts):
    check(["render", M, *units, "--quiet", "--steps", "1", *flat(opts), "--out", "{out}"])


@FUZZ
@given(layer, st.tuples(opt("--units", unit_range), opt("--shard", shard), opt("--k", ints),
       opt("--max-examples", ints), opt("--diverse", st.integers(-1, 1)),
       opt("--size", st.sampled_from([-1, 0, 7, 8, 16, 100000]))))
def test_gallery(lay, opts):
    check(["gallery", M, lay, "--steps", "1", "--quiet", "--units", "0:2", *flat(opts), "--out", "{out}"])


@FUZZ
@given(address, st.lists(floats, min_size=1, max_size=2), st.tuples(opt("--n", st.integers(-1, 4)),
       opt("--scale", st.one_of(st.sampled_from(["max", "raw", "0", "-1", "nan", "x"]), floats)),
       opt("--show", ints), opt("--batch-size", ints)))
def test_steer(unit, alphas, opts):
    check(["steer", M, unit, "--toyworld", "--n", "4", *flat(opts), "--alpha", *map(str, alphas), "--out", "{out}"])


@FUZZ
@given(address, st.tuples(opt("--depth", st.integers(-1, 2)), opt("--top-k", ints), opt("--share", floats),
       opt("--null", st.integers(-1, 3)),
       opt("--n-images", st.integers(-1, 4)), st.one_of(st.just([]),
       st.lists(layer, min_size=1, max_size=3).map(lambda ls: ["--layers", *ls]))))
def test_circuit(unit, opts):
    check(["circuit", M, unit, "--no-vis", "--depth", "1", *flat(opts), "--out", "{out}"])


@FUZZ
@given(layer, st.tuples(opt("--latents", ints), opt("--k", ints), opt("--steps", st.integers(-1, 2)),
       opt("--lr", floats), opt("--batch-size", ints),
       opt("--arch", st.sampled_from(["topk", "batchtopk", "relu", "x", ""])), opt("--l1", floats),
       opt("--positions", ints)))
def test_sae_train(lay, opts):
    check(["sae", "train", M, lay, "--toyworld", "--latents", "8", "--k", "2", "--steps", "1", "--batch-size", "64",
           "--eval-images", "2", "--image-batch", "2", "--no-progress", *flat(opts), "--out", "{out}"])


@FUZZ
@given(st.lists(st.sampled_from([M, "toy-vgg-s1", "toy-resnet-s0", "nope", ""]), min_size=1, max_size=3),
       st.tuples(opt("--n", st.integers(-1, 12)),
       opt("--grid", ints), opt("--permutations", st.integers(-1, 2)),
       opt("--method", st.sampled_from(["hungarian", "semi", "mutual", "x"])), st.one_of(st.just([]),
       st.lists(st.one_of(st.sampled_from(["main", "all", "relu3", "relu2,relu3"]), junk),
                                       min_size=1, max_size=3).map(lambda ls: ["--layers", *ls]))))
def test_universality(models, opts):
    check(["universality", *models, "--toyworld", "--n", "8", "--batch-size", "8", "--featvis-steps", "0",
           "--no-random-null", *flat(opts), "--out", "{out}"])


@FUZZ
@given(opt("--n", ints), opt("--seed", ints), st.sampled_from(["sample", "eval"]))
def test_toyworld_sample_and_eval(n, seed, action):
    extra = [M] if action == "eval" else ["--out", "{out}.png"]
    n = n or ["--n", "2"]
    check(["toyworld", action, *extra, *n, *seed])


@FUZZ
@given(st.one_of(st.sampled_from(["vgg", "resnet", "nope", ""]), junk), st.tuples(opt("--steps", st.integers(-1, 1)),
       opt("--batch", ints), opt("--aux-weight", floats), opt("--threads", st.integers(-1, 1)),
       opt("--checkpoint-every", ints)))
def test_toyworld_train(arch, opts):
    check(["toyworld", "train", arch, "--steps", "1", "--batch", "2", "--eval-n", "0", *flat(opts), "--out", "{out}"])


@FUZZ
@given(st.one_of(st.sampled_from([M, "mobilenet-v2", "nope", ""]), junk), st.lists(layer, max_size=2),
       opt("--size", ints))
def test_layers(model, names, size):
    check(["layers", model, *names, *size])


@FUZZ
@given(st.tuples(opt("--layers", layer), opt("--units", unit_range), opt("--shard", shard), opt("--k", ints),
       opt("--grid", ints), opt("--diverse", st.integers(-1, 1)), opt("--max-photos", ints),
       opt("--neighbours", ints)))
def test_atlas_arguments(opts):
    """Atlas: only the argument checks are fuzzed (a run is long); a valid set must pass them."""
    import argparse

    from visioncircuits.cli import build_parser
    from visioncircuits.cli.checks import validate
    from visioncircuits.cli.cmd_atlas import check_args
    from visioncircuits.errors import VisionCircuitsError

    parser = build_parser()
    argv = ["atlas", M, "--quick", *flat(opts), "--out", "/tmp/vcfuzz-never-written"]
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        assert e.code == 2
        return
    assert isinstance(args, argparse.Namespace)
    try:
        validate(parser, args)
        check_args(args)
    except VisionCircuitsError as e:
        assert "\n" not in str(e)


@FUZZ
@given(st.one_of(st.sampled_from(["nowhere", "/", ".", "/dev/null", ""]), junk),
       st.sampled_from(["eval", "export", "import"]))
def test_sae_folders(d, action):
    argv = {"eval": ["sae", "eval", M, d, "--toyworld", "--images", "2"],
            "export": ["sae", "export", d, "--out", "{out}"],
            "import": ["sae", "import", d, "--out", "{out}"]}[action]
    check(argv)


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(["/dev/null", "nowhere.tflite", "/", ""]), junk), min_size=1, max_size=2))
def test_zoo_import(files):
    check(["zoo", "import-tflite", *files, "--out", "{out}.safetensors"])
