"""The machine the figures come from, and waiting for it to be quiet (it may be shared)."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

# A 1-minute load average under this counts as quiet enough to start measuring.
QUIET_LOAD = 0.7


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int  # the cores this process may run on (its affinity mask)
    memory_gb: float
    python: str
    onnxruntime: str
    kernel: str

    def describe(self) -> str:
        return (
            f"{self.cpu}, {self.cores} cores, {self.memory_gb:g} GB; Python {self.python}, "
            f"onnxruntime {self.onnxruntime}, Linux {self.kernel}"
        )


def machine() -> Machine:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    import onnxruntime

    return Machine(
        cpu=cpu,
        cores=len(os.sched_getaffinity(0)),
        memory_gb=round(mem_kb / 1024**2, 1),
        python=platform.python_version(),
        onnxruntime=str(onnxruntime.__version__),
        kernel=platform.release(),
    )


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_quiet(limit_s: float) -> float:
    """Wait (at most `limit_s`) for other work on the machine to calm down; return the load."""
    deadline = time.monotonic() + limit_s
    while loadavg() > QUIET_LOAD and time.monotonic() < deadline:
        time.sleep(5)
    return loadavg()
