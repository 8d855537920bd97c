"""``visioncircuits bench toyworld``: toy-world generator throughput (images per second)."""
from __future__ import annotations

import argparse
import time

DESCRIPTION = "toy-world generator speed: images/s with and without masks, on this machine"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=2048, help="images per measurement (default 2048)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: one core)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")


def run(args: argparse.Namespace) -> list[dict]:
    from visioncircuits.device import torch_threads
    from visioncircuits.toyworld import generate

    with torch_threads(args.threads):
        generate(8, seed=0, size=args.size)  # warm the texture caches
        rows = []
        for masks in (False, True):
            n = args.n if not masks else max(args.n // 4, 1)
            best = float("inf")
            for r in range(args.repeats):
                t0 = time.perf_counter()
                generate(n, seed=r + 1, size=args.size, with_masks=masks)
                best = min(best, time.perf_counter() - t0)
            rows.append({"what": "images + masks" if masks else "images", "n": n, "size": args.size,
                         "threads": args.threads, "seconds": round(best, 3), "images_per_s": round(n / best, 1)})
        return rows
