"""Which arithmetic a job trains in, decided before it starts.

Mixed precision as both engines do it: the weights and AdamW's states stay float32, the forward and
backward passes run under `torch.autocast` in bf16 or fp16, and fp16 (whose range is narrow) scales the
loss with a `GradScaler` so small gradients do not flush to zero.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from tui_hf.core.errors import DeviceError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def device_kind(device: str) -> str:
    return device.split(":")[0]


def bf16_supported(device: str) -> bool:
    import torch

    kind = device_kind(device)
    if kind == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return kind in ("cpu", "mps")


def resolve_precision(wanted: str, device: str) -> str:
    """fp32, bf16 or fp16 for a job on `device` (a torch device string); DeviceError where it cannot.

    `auto` is bf16 on a CUDA card that has it (half the activation memory, no loss scaling, the range of
    fp32) and fp32 everywhere else: on a CPU, bf16 autocast is slower than fp32 unless the CPU has bf16
    units (AMX, AVX512-BF16), and CPU jobs are small ones where memory is rarely the limit; bf16 can still be
    asked for by name.
    """
    kind = device_kind(device)
    if wanted == "auto":
        return "bf16" if kind == "cuda" and bf16_supported(device) else "fp32"
    if wanted == "fp16" and kind == "cpu":
        raise DeviceError("precision fp16 needs a CUDA GPU (the CPU has no fp16 training kernels): use bf16 or fp32")
    if wanted == "bf16" and not bf16_supported(device):
        raise DeviceError(f"precision bf16: this GPU ({device}) has no bfloat16 support: use fp16 or fp32")
    if wanted not in PRECISIONS:
        raise DeviceError(f"precision must be one of {', '.join(PRECISIONS)}, not {wanted!r}")
    return wanted


def autocast(precision: str, device: str) -> AbstractContextManager[Any]:
    """The forward pass's context: autocast for bf16/fp16, nothing for fp32."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device_kind(device), dtype=dtype)


def grad_scaler(precision: str, device: str) -> Any:
    """A GradScaler that is active for fp16 only (a disabled one passes everything through)."""
    import torch

    return torch.amp.GradScaler(device_kind(device), enabled=precision == "fp16")
