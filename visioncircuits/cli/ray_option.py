"""The one ``--ray [ADDRESS]`` option (plus ``--ray-gpus``, ``--ray-shards``) shared by every heavy command."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from visioncircuits.distributed.config import RayConfig

LOCAL = "local"


def add_ray_option(p: argparse.ArgumentParser) -> None:
    """Add ``--ray [ADDRESS]``, ``--ray-gpus F`` and ``--ray-shards N`` to a command's parser."""
    g = p.add_argument_group("Ray (optional extra: pip install 'visioncircuits[ray]')")
    g.add_argument("--ray", nargs="?", const=LOCAL, default=None, metavar="ADDRESS",
                   help="run the work as Ray tasks: no value starts a local Ray instance on this machine's cores, "
                        "'auto' or 'ray://HOST:PORT' joins a running cluster (same outputs as one process: "
                        "docs/readme/distributed.md)")
    g.add_argument("--ray-gpus", type=float, default=None, metavar="F",
                   help="GPUs per Ray task (a fraction shares a GPU; default 1 when the cluster has GPUs, else 0)")
    g.add_argument("--ray-shards", type=int, default=None, metavar="N",
                   help="cut the job into N Ray tasks (default: 4 per cluster CPU)")


def ray_config(args: argparse.Namespace) -> Optional[RayConfig]:
    """The :class:`~visioncircuits.distributed.RayConfig` the flags ask for, or None without ``--ray``.

    Checks the flags (one-line errors naming them) before any model loads.
    """
    from visioncircuits.errors import InputError

    address = getattr(args, "ray", None)
    if address is None:
        for flag in ("ray_gpus", "ray_shards"):
            if getattr(args, flag, None) is not None:
                raise InputError(f"--{flag.replace('_', '-')} needs --ray")
        return None
    from visioncircuits.distributed.cluster import import_ray
    from visioncircuits.distributed.config import RayConfig

    if args.ray_gpus is not None and args.ray_gpus < 0:
        raise InputError(f"--ray-gpus must be >= 0, got {args.ray_gpus}")
    if args.ray_shards is not None and args.ray_shards < 1:
        raise InputError(f"--ray-shards must be >= 1, got {args.ray_shards}")
    if address != LOCAL and not (address == "auto" or address.startswith("ray://") or ":" in address):
        raise InputError(f"--ray takes no value (a local instance), 'auto', 'ray://HOST:PORT' or HOST:PORT; "
                         f"got '{address}'")
    import_ray()  # not installed: one line now, not after the model loaded
    return RayConfig(address=None if address == LOCAL else address, num_gpus=args.ray_gpus, shards=args.ray_shards)
