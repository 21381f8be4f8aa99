"""One description of the machine for every bench: CPU model, cores, library versions, threads, load."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else what `platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine() -> dict:
    """CPU, cores, torch / numba versions and threads, GPU, OMP wait policy and the 1-minute load average."""
    import numba  # imported here: bench_threshold describes the machine without torch
    import torch

    import sensitive_hue.models.scan_cpu  # noqa: F401  (picks numba's threading layer, as the package does)

    return {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "numba": numba.__version__,
            "numba_threads": numba.get_num_threads(), "numba_threading_layer": numba.config.THREADING_LAYER,
            "python": platform.python_version(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "load_avg_1min": round(os.getloadavg()[0], 2)}
