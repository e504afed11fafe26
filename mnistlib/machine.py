"""The machine a run uses: device choice, CPU cores, malloc, determinism, and what a record
says about it all (`environment`)."""
from __future__ import annotations

import ctypes
import functools
import os
import platform
import sys

import torch

from .errors import Refusal


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """CUDA when torch sees a GPU, else the CPU ("auto"); or the device asked for. The process is
    tuned for it (`tune`)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu") if str(device) == "auto" else \
        torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise Refusal("device 'cuda' asked for, but torch sees no CUDA GPU; use --device auto or cpu")
    tune(device)
    return device


def tune(device: torch.device, deterministic: bool = False) -> None:
    """The process-wide settings training on `device` wants: glibc keeps freed memory on a CPU
    (keep_freed_memory), cuDNN's algorithms on CUDA (set_determinism). No result depends on them
    but CUDA's determinism, which a record's environment states."""
    if device.type == "cpu":
        keep_freed_memory()
    set_determinism(device, deterministic)


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity where the OS reports one, as on Linux)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory instead of handing it back to the OS.

    Every CPU training step allocates and frees a few MB of activations. With glibc's
    defaults those frees shrink the heap and the next step page-faults the memory back in:
    about 3,000 page faults per step here, which cost ~15% of the step with 2 threads
    (measured in a VM; the tuning guides' LD_PRELOAD=jemalloc does the same job). Setting
    the thresholds is process-wide and does not change any result. Linux/glibc only;
    elsewhere it does nothing and returns False.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # e.g. musl
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from <malloc.h>
    return bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) and libc.mallopt(M_MMAP_THRESHOLD, 32 << 20))


def set_determinism(device: torch.device, deterministic: bool = False) -> None:
    """CUDA only (CPU kernels are deterministic for a given machine and thread count).
    Default: cuDNN benchmarks its algorithms once per shape and keeps the fastest, which may be
    a non-deterministic one: a CUDA run then matches itself only within noise. Deterministic:
    cuDNN's deterministic algorithms and torch's deterministic mode (kernels that have no
    deterministic version warn instead of failing). Process-wide settings."""
    if device.type != "cuda":
        return
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=True)


@functools.cache
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict:
    """What a record needs to say for a reader to know whether it can be reproduced to the
    digit: the same device model, library versions, thread count, determinism flags and, on a
    CPU, the same instruction set (floating-point sums differ between AVX2 and AVX-512 kernels)."""
    import torchvision
    cuda = device.type == "cuda"
    return {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if cuda else _cpu_model(),
        "cpu": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark if cuda else None,
        "cudnn_deterministic": torch.backends.cudnn.deterministic if cuda else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
