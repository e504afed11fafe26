"""The machine a run uses: device, CPU cores, malloc, determinism, and what a record says about
it all (`environment`)."""
from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import platform
import re
from pathlib import Path

import torch

from .errors import Refusal


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """CUDA when torch sees a GPU, else the CPU ("auto"); or the device asked for. Tuned for (`tune`)."""
    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise Refusal("device 'cuda' asked for, but torch sees no CUDA GPU; use --device auto or cpu")
    tune(device)
    return device


def tune(device: torch.device, deterministic: bool = False) -> None:
    """The process-wide settings training on `device` wants; no result depends on them but CUDA's
    determinism, which a record's environment states. CPU: keep freed memory. CUDA: by default
    cuDNN benchmarks its algorithms once per shape and keeps the fastest, which may be a
    non-deterministic one (a run then matches itself only within noise); `deterministic` asks for
    cuDNN's and torch's deterministic kernels (those without one warn instead of failing). CPU
    kernels are deterministic for a given machine and thread count."""
    if device.type == "cpu":
        keep_freed_memory()
    if device.type == "cuda":
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic
        torch.use_deterministic_algorithms(deterministic, warn_only=True)


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity where the OS reports one, as on Linux)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory instead of handing it back to the OS; False where
    there is no glibc. Each CPU step allocates and frees a few MB of activations: by default the
    heap shrinks and the next step page-faults it back, about 3,000 faults a step, ~15% of a step
    with 2 threads (measured in a VM; LD_PRELOAD=jemalloc does the same job). Changes no result."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: musl, macOS, Windows
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from <malloc.h>
    return bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) and libc.mallopt(M_MMAP_THRESHOLD, 32 << 20))


@functools.cache
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


@functools.cache
def _torchvision_version() -> str:
    """torchvision.__version__ (with its build, e.g. +cpu), read from its version.py: importing
    torchvision takes 1.5 s, which no run that reads MNIST itself needs to spend."""
    spec = importlib.util.find_spec("torchvision")
    text = Path(spec.submodule_search_locations[0], "version.py").read_text()
    return re.search(r"^__version__ = ['\"]([^'\"]+)", text, re.M)[1]


def environment(device: torch.device) -> dict:
    """What a reader needs to know whether a record can be reproduced to the digit: the device
    model, library versions, thread count, determinism flags and, on a CPU, the instruction set
    (floating-point sums differ between AVX2 and AVX-512 kernels)."""
    cuda = device.type == "cuda"
    return {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if cuda else _cpu_model(),
        "cpu": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torchvision": _torchvision_version(),
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_benchmark": torch.backends.cudnn.benchmark if cuda else None,
        "cudnn_deterministic": torch.backends.cudnn.deterministic if cuda else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
