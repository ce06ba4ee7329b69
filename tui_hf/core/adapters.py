"""LoRA adapters (peft) saved by a finetuning run: recognised, loaded onto their base model, merged.

A run's checkpoint or final directory with LoRA holds adapter_config.json and adapter_model.safetensors
(PeftModel.save_pretrained) beside the base model's config.json (with the labels the head was trained on)
and the tokenizer. The config.json is written by the run so that everything reading a model directory
(model cards, the model list, a resume's label check) reads it as usual; loading the weights goes through
here, because transformers would look for a whole model's weights next to a config.json.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tui_hf.core.errors import ModelLoadError

ADAPTER_CONFIG = "adapter_config.json"


def adapter_base(directory: str | Path) -> str | None:
    """The base model an adapter directory was trained on (None: not an adapter directory)."""
    path = Path(directory) / ADAPTER_CONFIG
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ModelLoadError(f"{path} is not readable JSON: the adapter cannot be loaded") from None
    base = raw.get("base_model_name_or_path") if isinstance(raw, dict) else None
    if not isinstance(base, str) or not base:
        raise ModelLoadError(f"{path} names no base model (base_model_name_or_path): the adapter cannot be loaded")
    return base


@contextmanager
def quiet_peft() -> Iterator[None]:
    """peft 0.21 asks transformers 5 for is_gradient_checkpointing, deprecated there: a FutureWarning on the
    terminal at each load that says nothing to a user."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def load_adapter_model(
    auto_class: Any,
    directory: str | Path,
    *,
    trainable: bool = False,
    local_files_only: bool = True,
    trust_remote_code: bool = False,
    **kwargs: Any,
) -> Any:
    """The base model with the adapter of `directory` on it (a PeftModel). The base is built with the
    directory's config, so a head trained for other labels than the base's has its trained size."""
    import transformers
    from peft import PeftModel

    base = adapter_base(directory)
    if base is None:
        raise ModelLoadError(f"{directory} holds no LoRA adapter ({ADAPTER_CONFIG})")
    config = transformers.AutoConfig.from_pretrained(
        str(directory), local_files_only=True, trust_remote_code=trust_remote_code
    )
    try:
        model = auto_class.from_pretrained(
            base,
            config=config,
            local_files_only=local_files_only or Path(base).is_dir(),
            trust_remote_code=trust_remote_code,
            # A head trained for other labels than the base's is in the adapter (modules_to_save): the base's
            # own, of another size, is replaced by it just below.
            ignore_mismatched_sizes=True,
            **kwargs,
        )
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"{directory} is a LoRA adapter on {base}, which cannot be loaded ({first}): "
            "the base model must be where it was when the run trained"
        ) from None
    with quiet_peft():
        return PeftModel.from_pretrained(model, str(directory), is_trainable=trainable)


def load_merged(auto_class: Any, directory: str | Path, **kwargs: Any) -> Any:
    """A plain transformers model: the adapter's low-rank updates added into the base weights."""
    return load_adapter_model(auto_class, directory, **kwargs).merge_and_unload()


def qlora_problem(device: str) -> list[str]:
    """Why QLoRA cannot run here (empty: it can): bitsandbytes' 4-bit kernels need a CUDA GPU."""
    if device.split(":")[0] in ("cpu", "mps"):
        return [f"qlora needs a CUDA GPU (bitsandbytes 4-bit weights), not device {device}: use lora instead"]
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        return ["qlora needs a CUDA GPU (bitsandbytes 4-bit weights) and this machine has none: use lora instead"]
    if importlib.util.find_spec("bitsandbytes") is None:
        return ["qlora needs the bitsandbytes package (pip install bitsandbytes): it is not installed"]
    return []
