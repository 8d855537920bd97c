"""Connect to Ray once per job: start a local instance, join a cluster, or reuse a running session."""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Iterator

from visioncircuits.distributed.config import RayConfig
from visioncircuits.errors import InputError
from visioncircuits.utils import first_line

log = logging.getLogger(__name__)


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError("Ray is not installed: pip install 'visioncircuits[ray]' (or pip install 'ray[default]')"
                         ) from None
    return ray


def start_local(cpus: int, attempts: int = 3, **init_kwargs: Any) -> Any:
    """``ray.init`` of a local instance, retried: Ray gives a starting raylet a fixed 30 s to
    register, which a busy machine (a shared CI runner) can miss; a second start usually succeeds."""
    ray = import_ray()
    for attempt in range(1, attempts + 1):
        try:
            return ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING, **init_kwargs)
        except Exception as e:  # Ray raises a bare Exception on a startup timeout
            ray.shutdown()
            if attempt == attempts:
                raise
            log.warning("local Ray instance did not start (%s); retrying (%d/%d)", first_line(e, 120), attempt,
                        attempts)


@contextlib.contextmanager
def ray_session(config: RayConfig) -> Iterator[Any]:
    """Yield ``ray`` connected as ``config`` says; shut down only an instance started here.

    A session that is already initialised (a test fixture, a notebook, an enclosing job) is
    reused whatever ``config.address`` says, so nested phases of one job share one cluster.
    """
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    try:
        if config.address is None:
            cpus = int(config.local_cpus or os.cpu_count() or 1)
            log.info("starting a local Ray instance with %d CPUs", cpus)
            start_local(cpus)
        else:
            log.info("joining the Ray cluster at %s", config.address)
            ray.init(address=config.address, logging_level=logging.WARNING)
    except Exception as e:  # ConnectionError, RuntimeError, ValueError, or Ray's bare startup Exception
        where = config.address or "a local instance"
        raise InputError(f"cannot start or join Ray ({where}): {first_line(e, 200)}") from None
    try:
        yield ray
    finally:
        ray.shutdown()
