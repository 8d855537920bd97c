"""``RayConfig``: where the cluster is and what each task asks of it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from visioncircuits.sae.config import ConfigFieldError


@dataclass(frozen=True)
class RayConfig:
    """How a job runs on Ray.

    ``address``: None starts a local Ray instance (``num_cpus`` = this machine's cores unless
    ``local_cpus`` says otherwise); ``"auto"`` or ``"ray://HOST:PORT"`` joins a running cluster.
    An already initialised Ray session (tests, notebooks) is reused as it is.
    ``num_gpus``: GPUs requested per task when the cluster has any (a fraction shares a GPU
    between tasks); None = 1 per task on a cluster with GPUs, 0 on a CPU-only one.
    ``cpus_per_task``: CPUs per task; each task runs torch on that many intra-op threads, so a
    single-process run on the same thread count gives identical numbers.
    ``max_retries``: how often a task whose worker died (killed, out of memory, lost node) is rerun.
    ``shards``: how many shards a job is cut into (None: 4 per CPU of the cluster, so the bar
    moves and a retry loses little).
    """

    address: Optional[str] = None
    num_gpus: Optional[float] = None
    cpus_per_task: float = 1.0
    max_retries: int = 3
    shards: Optional[int] = None
    local_cpus: Optional[int] = None
    progress: bool = True

    def __post_init__(self):
        if self.address is not None and not (self.address == "auto" or self.address.startswith("ray://")
                                             or ":" in self.address):
            raise ConfigFieldError("RayConfig", "address", f"must be None, 'auto', 'ray://HOST:PORT' or "
                                              f"HOST:PORT, got '{self.address}'")
        if self.num_gpus is not None and self.num_gpus < 0:
            raise ConfigFieldError("RayConfig", "num_gpus", f"must be >= 0, got {self.num_gpus}")
        if self.cpus_per_task <= 0:
            raise ConfigFieldError("RayConfig", "cpus_per_task", f"must be > 0, got {self.cpus_per_task}")
        if self.max_retries < 0:
            raise ConfigFieldError("RayConfig", "max_retries", f"must be >= 0, got {self.max_retries}")
        if self.shards is not None and self.shards < 1:
            raise ConfigFieldError("RayConfig", "shards", f"must be >= 1, got {self.shards}")
        if self.local_cpus is not None and self.local_cpus < 1:
            raise ConfigFieldError("RayConfig", "local_cpus", f"must be >= 1, got {self.local_cpus}")

    def replace(self, **changes) -> RayConfig:
        from dataclasses import replace

        return replace(self, **changes)
