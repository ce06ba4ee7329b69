"""Choose where models run: cuda, then mps, then cpu."""

from __future__ import annotations

from dataclasses import dataclass

from tui_hf.core.errors import DeviceError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class DevicePlan:
    device: str  # a torch device string, e.g. "cuda:0"
    dtype: str  # a torch dtype name, e.g. "float32"
    reason: str  # why this device: shown in the status bar and the log


def available_devices() -> list[str]:
    import torch

    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    found.append("cpu")
    return found


def pick_device(preference: str = "auto", dtype: str = "auto") -> DevicePlan:
    """Resolve `preference` (auto|cpu|cuda|mps|cuda:N) and `dtype` into something this machine can run."""
    import torch

    if preference not in DEVICE_CHOICES and not preference.startswith("cuda:"):
        raise DeviceError(f"unknown device {preference!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if dtype not in DTYPE_CHOICES:
        raise DeviceError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPE_CHOICES)}")
    found = available_devices()
    if preference == "auto":
        kind = found[0]
        reason = "auto: best available of " + ", ".join(found)
    else:
        kind = preference.split(":")[0]
        if kind not in found:
            hint = "install a CUDA build of torch (see README)" if kind == "cuda" else "it needs Apple silicon"
            raise DeviceError(f"device {preference!r} is not available here ({hint}); available: {', '.join(found)}")
        reason = "requested"
    device = preference if preference.startswith("cuda:") else ("cuda:0" if kind == "cuda" else kind)
    if dtype == "auto":
        # bf16 halves memory on GPUs that do it natively; the CPU stays in float32 for speed and accuracy.
        if kind == "cuda" and torch.cuda.is_bf16_supported():
            dtype = "bfloat16"
        else:
            dtype = "float32"
    elif kind == "cpu" and dtype == "float16":
        raise DeviceError("float16 is not supported for CPU inference; use float32 or bfloat16")
    elif kind == "cuda" and dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
        raise DeviceError("this GPU has no bfloat16 support; use float16 or float32")
    return DevicePlan(device=device, dtype=dtype, reason=reason)
