"""The memory plan: what a model needs on a device, known before anything is loaded or trained.

The model is built from its config on the meta device (accelerate's `init_empty_weights`: no weights are
allocated or read), so parameter counts are exact; accelerate's `calculate_maximum_sizes` gives its bytes
and `estimate_training_usage` (what `accelerate estimate-memory` prints) the gradients and optimizer states.

Activations are a stated formula, not a measurement. Per transformer layer, for a micro-batch of b rows of
s tokens, hidden size h and a attention heads, Korthikanti et al. (2022, "Reducing Activation Recomputation
in Large Transformer Models") count s·b·h·(34 + 5·a·s/h) bytes kept for the backward pass with 16-bit
activations; fp32 doubles it. With gradient checkpointing only each layer's input (2·s·b·h bytes, 16-bit)
is kept, plus one layer's full set while it is recomputed. A language-model head adds its logits and their
gradient in fp32: 8·b·s·V bytes for a vocabulary of V. Peak use during the optimizer step, the allocator's
slack and the framework itself (CUDA context, or on a CPU the Python process) come on top.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

# accelerate's init_empty_weights patches torch.nn.Module for the whole process, not one thread: a model
# loading in another thread meanwhile (the app loads in workers, the job dialog estimates in one) would get
# its weights on the meta device. Building an empty model and loading a real one take turns on this lock.
BUILDING = threading.RLock()

MiB = 2**20
GiB = 2**30

# Bytes per weight when loading for inference.
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "8bit": 1, "4bit": 0.5}


def gib(n: float) -> str:
    return f"{n / GiB:.2f} GiB" if n >= GiB / 10 else f"{n / MiB:.0f} MiB"


@dataclass
class Estimate:
    """An estimate of a model's memory on one device, part by part, and what that device has free."""

    device: str
    parts: dict[str, int] = field(default_factory=dict)  # name -> bytes, in the order they are shown
    free: int | None = None  # bytes free on the device now (None: unknown)
    params: int = 0
    trainable: int = 0
    advice: str = (
        "lower the batch size (raise grad accumulation to keep the effective batch), use bf16, gradient "
        "checkpointing or a smaller model"
    )

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    @property
    def over(self) -> int:
        """Bytes the estimate is over the free memory (0: it fits, or the free memory is unknown)."""
        return max(self.total - self.free, 0) if self.free is not None else 0

    def summary(self) -> str:
        parts = ", ".join(f"{name} {gib(n)}" for name, n in self.parts.items())
        free = f"; {gib(self.free)} free" if self.free is not None else ""
        return f"about {gib(self.total)} on {self.device} ({parts}){free}"

    def warning(self) -> str | None:
        """The line that says it does not fit, and by how much; None when it fits (or nothing is known)."""
        if not self.over:
            return None
        return (
            f"the memory estimate ({gib(self.total)} on {self.device}) is {gib(self.over)} over its free memory "
            f"({gib(self.free or 0)}): expect an out-of-memory failure; {self.advice}"
        )


def free_memory(device: str) -> int | None:
    """Free bytes on `device` now: a CUDA card's free memory, the machine's available RAM for the CPU, both
    together for "auto" (accelerate's device_map)."""
    kind = device.split(":")[0]
    try:
        if kind == "auto":  # device_map auto: every GPU, then the CPU's memory
            import torch

            gpus = range(torch.cuda.device_count()) if torch.cuda.is_available() else range(0)
            cpu = free_memory("cpu") or 0
            return cpu + sum(int(torch.cuda.mem_get_info(i)[0]) for i in gpus)
        if kind == "cuda":
            import torch

            index = int(device.split(":")[1]) if ":" in device else 0
            return int(torch.cuda.mem_get_info(index)[0])
        if kind == "cpu":
            import psutil

            return int(psutil.virtual_memory().available)
    except Exception:
        return None
    return None


def empty_model(config: Any, head: str, trust_remote_code: bool = False) -> Any:
    """The model `config` describes, with the `AutoModelFor<head>` head, on the meta device (no memory)."""
    import transformers
    from accelerate import init_empty_weights

    cls = getattr(transformers, "AutoModelFor" + head) if head else transformers.AutoModel
    with BUILDING, init_empty_weights():
        return cls.from_config(config, trust_remote_code=trust_remote_code)


def counts(model: Any) -> tuple[int, int]:
    """(all parameters, trainable parameters); tied weights counted once, as model.parameters() yields them."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def _dims(config: Any) -> tuple[int, int, int, int]:
    """(hidden size, layers, heads, vocabulary) of a config, whatever its family calls them."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config

    def first(*names: str, default: int = 0) -> int:
        for n in names:
            value = getattr(text, n, None)
            if isinstance(value, int) and value > 0:
                return value
        return default

    hidden = first("hidden_size", "n_embd", "d_model", "dim", default=768)
    layers = first("num_hidden_layers", "n_layer", "num_layers", "n_layers", default=12)
    heads = first("num_attention_heads", "n_head", "num_heads", "n_heads", default=max(hidden // 64, 1))
    vocab = first("vocab_size", default=0)
    return hidden, layers, heads, vocab


def activation_bytes(
    config: Any, batch: int, length: int, precision: str, checkpointing: bool = False, lm_head: bool = False
) -> int:
    """The stated formula (module docstring): activations kept for the backward pass of one micro-batch."""
    h, layers, a, vocab = _dims(config)
    s, b = length, batch
    widen = 2 if precision == "fp32" else 1  # the formula counts 16-bit activations
    per_layer = s * b * h * (34 + 5 * a * s / h) * widen
    if checkpointing:
        kept = layers * 2 * s * b * h * widen + per_layer
    else:
        kept = layers * per_layer
    kept += 2 * s * b * h * widen  # the embeddings' output
    if lm_head and vocab:
        kept += 8 * b * s * vocab
    return int(kept)


def training_estimate(
    model: Any,
    config: Any,
    device: str,
    *,
    batch: int,
    length: int,
    precision: str,
    checkpointing: bool = False,
    lm_head: bool = False,
) -> Estimate:
    """Weights, gradients, AdamW's two fp32 states and activations of one process training `model`."""
    from accelerate.commands.estimate import estimate_training_usage
    from accelerate.utils import calculate_maximum_sizes

    total_bytes, _ = calculate_maximum_sizes(model)
    params, trainable = counts(model)
    trainable_bytes = trainable * 4  # fp32 master weights whatever the autocast precision
    usage = estimate_training_usage(
        trainable_bytes, {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[precision]
    )
    parts = {
        "weights": int(total_bytes),
        "gradients": int(usage["gradients"]),
        "optimizer": int(usage["optimizer"]),  # AdamW: two fp32 moments per trainable weight
        "activations": activation_bytes(config, batch, length, precision, checkpointing, lm_head),
    }
    return Estimate(device, parts, free_memory(device), params, trainable)


def inference_estimate(
    model: Any, config: Any, device: str, *, dtype: str, length: int = 512, lm_head: bool = False
) -> Estimate:
    """Weights at `dtype` (float32, bfloat16, float16, 8bit, 4bit) and one row's activations at `length`."""
    params, _ = counts(model)
    per = DTYPE_BYTES[dtype]
    h, layers, _, vocab = _dims(config)
    width = 4 if dtype == "float32" else 2
    # A forward pass without grad keeps little: a few layer-sized tensors, the KV cache, the logits.
    activations = (4 * length * h + 2 * layers * length * h) * width + (length * vocab * 4 if lm_head else 0)
    parts = {"weights": int(params * per), "activations": int(activations)}
    advice = "load the weights quantized (CUDA), in bfloat16, or spread over devices with device_map auto"
    return Estimate(device, parts, free_memory(device), params, 0, advice)
