"""Scaling plan arithmetic (docs/readme/scaling.md): every unit of InceptionV1 and the MobileNets
at 512 steps, and an SAE on 100M activation vectors. Every number is counted from the models
here, measured by a bench (results/bench_unit_steps.json, results/bench_sae_ddp.json: run those
first), or is the one cited figure (the GPU's peak FP32 rate) or a stated setting.

    visioncircuits bench unit_steps --out results/bench_unit_steps.json
    visioncircuits bench sae_ddp --out results/bench_sae_ddp.json
    python scripts/reproduce_scaling_plan.py        # ~2-4 min on one thread (FLOP counts of 163 layers)

Writes results/scaling_plan.json and prints the doc's tables under their results markers.
"""
from __future__ import annotations

import json
import math
import statistics

import torch
from _common import command, parse_no_options

from visioncircuits.results import RESULTS_DIR, Timer, deterministic, write_results

STEPS = 512  # optimisation steps per unit (Lucid's default render length is 512)
GPU = {"name": "NVIDIA A100 (FP32, non-tensor-core)", "peak_tflops": 19.5,
       "source": "NVIDIA A100 Tensor Core GPU datasheet (peak FP32 19.5 TFLOPS)"}  # the one cited figure
UTILISATION = 0.25  # setting: share of the peak a small-batch CNN job reaches (assumption, not measured)
MODELS = ("inceptionv1", "mobilenet-v2", "mobilenet-v1", "mobilenet-v1-0.75-192")
SAE = {"vectors": 100_000_000, "model": "inceptionv1", "layer": "mixed4a", "latents_per_channel": 16, "k": 32,
       "batch": 4096, "positions_per_image": 32, "bytes_per_value": 2}  # settings (float16 store)


def sig(x: float, digits: int = 3):
    """``x`` to ``digits`` significant digits (an int when that leaves no decimals)."""
    if x == 0:
        return 0
    decimals = digits - 1 - int(math.floor(math.log10(abs(x))))
    return int(round(x)) if decimals <= 0 else round(x, decimals)


def fmt(v) -> str:
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def lucent_inception_units() -> tuple[int, int]:
    """(conv layers, channels) of torch-lucent's InceptionV1 (no weights needed)."""
    from lucent.modelzoo import inceptionv1

    convs = [m for m in inceptionv1(pretrained=False).modules() if isinstance(m, torch.nn.Conv2d)]
    return len(convs), sum(m.out_channels for m in convs)


def conv_layers(model) -> list[tuple[str, int]]:
    return [(n, m.out_channels) for n, m in model.net.named_modules() if isinstance(m, torch.nn.Conv2d)]


def every_unit(bench_unit: dict, bench_ddp: dict) -> tuple[dict, dict]:
    from visioncircuits.bench.unit_steps import flops_per_unit_step
    from visioncircuits.zoo import load_model

    rows_b = bench_unit["values"]["rows"]
    rate = statistics.median(r["effective_gflop_per_cpu_s"] for r in rows_b) * 1e9
    png_kb = statistics.mean(r["png_kb_mean"] for r in rows_b)
    rows, detail = [], {}
    for name in MODELS:
        model = load_model(name, weights="random")  # FLOPs and unit counts do not depend on the weights
        size = int(model.spec.input_size)
        layers = conv_layers(model)
        if name == "inceptionv1":
            n_lucent = lucent_inception_units()
            assert n_lucent == (len(layers), sum(c for _, c in layers)), (n_lucent, len(layers))
        flops = {layer: flops_per_unit_step(model, layer, size) for layer, _ in layers}
        units = sum(c for _, c in layers)
        total = sum(c * STEPS * flops[layer] for layer, c in layers)
        detail[name] = {"conv_layers": len(layers), "units": units, "unit_steps": units * STEPS,
                        "total_flops": total, "gflop_per_unit_step": {k: v / 1e9 for k, v in flops.items()}}
        rows.append([name, len(layers), units, units * STEPS, sig(total / 1e15), sig(total / rate / 3600),
                     sig(total / (GPU["peak_tflops"] * 1e12) / 3600), sig(total / (GPU["peak_tflops"] * 1e12
                                                                                  * UTILISATION) / 3600),
                     sig(units * png_kb / 1024)])
    table = {"columns": ["model", "conv layers", "units (channels)", "unit-steps", "PFLOP",
                         "CPU core-hours here", "A100 hours at peak", "A100 hours at 25%", "PNG storage (MB)"],
             "rows": rows}
    inputs = {"cpu_gflop_per_s": sig(rate / 1e9), "png_kb_per_unit": sig(png_kb)}
    return {"table": table, "detail": detail, "inputs": inputs}, rates_table(bench_unit, bench_ddp)


def rates_table(bench_unit: dict, bench_ddp: dict) -> dict:
    """The measured inputs, as the doc shows them (from the two bench results files)."""
    rows = []
    for r in bench_unit["values"]["rows"]:
        rows.append([f"feature vis. unit-step, {r['model']} {r['layer']} ({r['size']} px)", r["cpu_s_per_unit_step"],
                     "CPU s / unit-step", r["gflop_per_unit_step"], r["effective_gflop_per_cpu_s"]])
    return {"columns": ["measured", "value", "unit", "GFLOP each", "GFLOP per CPU s"], "rows": rows,
            "runtime": {"unit_steps_wall_s": bench_unit["wall_seconds"], "unit_steps_cpu_s": bench_unit["cpu_seconds"],
                        "unit_steps_load": bench_unit["load_average_at_end"],
                        "sae_ddp_wall_s": bench_ddp["wall_seconds"], "sae_ddp_load": bench_ddp["load_average_at_end"]}}


def sae_flops_per_sample(d: int, d_sae: int, k: int, batch: int = 1024) -> float:
    """FLOPs of one training step (loss forward + backward) per sample, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    from visioncircuits.sae.losses import step_loss
    from visioncircuits.sae.models import SparseAutoencoder

    sae = SparseAutoencoder(d, d_sae, "topk", k)
    x = torch.randn(batch, d)
    with FlopCounterMode(display=False) as counter:
        step_loss(sae, x, torch.zeros(d_sae, dtype=torch.bool)).loss.backward()
    return counter.get_total_flops() / batch


def sae_plan(bench_ddp: dict) -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    from visioncircuits.zoo import load_model

    model = load_model(SAE["model"], weights="random")
    d = model.channels(SAE["layer"])
    d_sae = SAE["latents_per_channel"] * d
    n = SAE["vectors"]
    size = int(model.spec.input_size)
    model.run_with_cache(torch.rand(1, 3, size, size), [SAE["layer"]])  # the first call traces: not counted
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.run_with_cache(torch.rand(1, 3, size, size), [SAE["layer"]])
    fwd = counter.get_total_flops()
    images = n / SAE["positions_per_image"]
    per_sample = sae_flops_per_sample(d, d_sae, SAE["k"])
    gpu = GPU["peak_tflops"] * 1e12 * UTILISATION
    store_gb = n * d * SAE["bytes_per_value"] / 1e9
    steps = n / SAE["batch"]
    harvest_h, train_h = images * fwd / gpu / 3600, n * per_sample / gpu / 3600
    gpu_samples_s = gpu / per_sample
    need_gb_s = gpu_samples_s * d * SAE["bytes_per_value"] / 1e9
    # measured here: SAE samples/s per process count (bench config) -> effective FLOP rate; store reads
    rows_b = bench_ddp["values"]["rows"]
    train_rows = [r for r in rows_b if r["unit"] == "samples/s"]
    read = next(r for r in rows_b if r["unit"] == "rows/s")
    harvest = next(r for r in rows_b if r["unit"] == "images/s")
    cmd = bench_ddp["command"]
    b_d = int(read["stage"].split("d=")[1].split(",")[0])
    b_lat = int(cmd.split("--latents ")[1].split()[0]) if "--latents " in cmd else 2048
    b_k = int(cmd.split("--k ")[1].split()[0]) if "--k " in cmd else 32
    b_flops = sae_flops_per_sample(b_d, b_lat, b_k)
    b_model = cmd.split("--model ")[1].split()[0] if "--model " in cmd else "mobilenet-v2"
    b_layer = cmd.split("--layer ")[1].split()[0] if "--layer " in cmd else "blocks.13"
    bm = load_model(b_model, weights="random")
    b_size = int(bm.spec.input_size)
    bm.run_with_cache(torch.rand(1, 3, b_size, b_size), [b_layer])
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        bm.run_with_cache(torch.rand(1, 3, b_size, b_size), [b_layer])
    bench_fwd = counter.get_total_flops()
    best = max(train_rows, key=lambda r: r["per_second"])
    cpu_rate = best["per_second"] * b_flops
    read_mb_s = read["per_second"] * b_d * 4 / 1e6
    read_h_here = store_gb * 1e3 / read_mb_s / 3600
    plan = {"columns": ["quantity", "value", "unit"], "rows": [
        [f"layer ({SAE['model']} {SAE['layer']}) width d", d, "channels"],
        ["SAE latents (16 d), k", [d_sae, SAE["k"]], "latents, active"],
        ["images to harvest (32 positions each)", sig(images), "images"],
        ["store size (float16)", sig(store_gb), "GB"],
        ["harvest: forward FLOPs per image (to the layer)", sig(fwd / 1e9), "GFLOP"],
        ["SAE step FLOPs per sample (forward + backward)", sig(per_sample / 1e6), "MFLOP"],
        ["SAE steps for one epoch (batch 4096)", sig(steps), "steps"],
        ["harvest on one A100 at 25% of peak", sig(harvest_h), "GPU-hours"],
        ["SAE training (one epoch) on one A100 at 25% of peak", sig(train_h), "GPU-hours"],
        ["read bandwidth to keep that GPU busy", sig(need_gb_s), "GB/s"],
        ["store read measured here (shuffled rows, page cache)", sig(read_mb_s / 1e3), "GB/s"],
        ["reading the store once at that rate", sig(read_h_here), "hours"],
        ["SAE training (one epoch) at this machine's best measured samples/s, scaled by FLOPs",
         sig(n * per_sample / cpu_rate / 3600), "hours"],
        ["harvest at this machine's measured images/s, scaled by FLOPs",
         sig(images * fwd / (harvest["per_second"] * bench_fwd) / 3600), "hours"],
    ]}
    ddp = {"columns": ["stage", "processes", "rate", "unit", "wall s", "CPU s", "load"],
           "rows": [[r["stage"], r["processes"], r["per_second"], r["unit"], r["wall_s"], r["cpu_s"], r["load"]]
                    for r in rows_b]}
    bottleneck = {"columns": ["stage", "hours (one A100 at 25%; reads at the rate measured here)", "share"],
                  "rows": []}
    stages = [("harvest (CNN forward)", harvest_h), ("SAE training, one epoch", train_h),
              (f"reading the store at {sig(read_mb_s / 1e3)} GB/s", read_h_here)]
    total = sum(h for _, h in stages)
    bottleneck["rows"] = [[s, sig(h), f"{100 * h / total:.0f}%"] for s, h in stages]
    return {"table": plan, "ddp": ddp, "bottleneck": bottleneck,
            "inputs": {"d": d, "d_sae": d_sae, "fwd_flops": fwd, "sae_flops_per_sample": per_sample,
                       "bench_sae_flops_per_sample": b_flops, "cpu_sae_flop_rate": cpu_rate,
                       "gpu_samples_per_s": gpu_samples_s}}


def main() -> int:
    parse_no_options(__doc__)
    bench_unit = json.loads((RESULTS_DIR / "bench_unit_steps.json").read_text())
    bench_ddp = json.loads((RESULTS_DIR / "bench_sae_ddp.json").read_text())
    with Timer() as t, deterministic(threads=1):
        units, rates = every_unit(bench_unit, bench_ddp)
        sae = sae_plan(bench_ddp)
    values = {"settings": {"steps": STEPS, "gpu": GPU, "utilisation": UTILISATION, "sae": SAE},
              "every_unit": units, "rates": rates, "sae": sae,
              "plan_runtime": {"wall_s": round(t.wall), "cpu_s": round(t.cpu)}}
    out = write_results(RESULTS_DIR / "scaling_plan.json", values, command(), t, threads=1)
    for key in ("rates", "every_unit", "sae", "sae.ddp", "sae.bottleneck"):
        node = values
        for part in key.split("."):
            node = node[part]
        table = node["table"] if "table" in node else node
        print(f"<!-- results: results/scaling_plan.json {key}{'.table' if 'table' in node else ''} -->")
        print("| " + " | ".join(table["columns"]) + " |")
        print("|" + "---|" * len(table["columns"]))
        for r in table["rows"]:
            print("| " + " | ".join(", ".join(fmt(x) for x in v) if isinstance(v, list) else fmt(v) for v in r) + " |")
        print()
    print(f"wrote {out} in {t.wall:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
