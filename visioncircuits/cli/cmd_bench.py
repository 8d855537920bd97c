"""``visioncircuits bench TOPIC``: run a benchmark and print its measured table."""

from __future__ import annotations

import argparse
import sys

from visioncircuits.cli.output import format_table


def register(sub: argparse._SubParsersAction) -> None:
    from visioncircuits import bench

    p = sub.add_parser("bench", help="run a benchmark and print a measured table")
    topics = p.add_subparsers(dest="topic", metavar="TOPIC")
    topics.required = True
    for name in bench.topics():
        mod = bench.get(name)
        tp = topics.add_parser(name, help=getattr(mod, "DESCRIPTION", name))
        tp.add_argument("--json", dest="json_out", default=None, help="also write the rows as JSON here")
        tp.add_argument(
            "--out",
            dest="results_out",
            default=None,
            help="also write a results file here (rows + the command, its wall/CPU time and the machine), "
            "e.g. results/bench_sae.json",
        )
        mod.add_arguments(tp)
        tp.set_defaults(func=run, bench_module=mod)


def run(args: argparse.Namespace) -> int:
    from visioncircuits.results import Timer, write_results

    with Timer() as timer:
        rows = args.bench_module.run(args)
    print(format_table(rows))
    if args.json_out:
        from visioncircuits.atomic import write_json

        write_json(args.json_out, rows)
    if args.results_out:
        write_results(args.results_out, {"rows": rows}, "visioncircuits " + " ".join(sys.argv[1:]), timer)
    sys.stdout.flush()
    return 0
