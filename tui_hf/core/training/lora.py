"""LoRA (and QLoRA) for every training family: the model a job trains, wrapped by peft.

Which layers get adapters: the spec's lora.target_modules, else peft's default for the architecture
(TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING), else every linear layer but the heads. Which modules
train whole: the ones transformers had to initialise because the checkpoint lacks them (a new
classification, token or span head), read from the loading report rather than from the family, so a new
family's head trains without a line here; peft's task types name the same heads (classifier, score,
qa_outputs) for the families it knows. A language model's head is pretrained and stays frozen, as peft's
CAUSAL_LM leaves it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tui_hf.core.errors import SpecError
from tui_hf.core.training.spec import LoraSpec, TrainSpec


def parameter_counts(model: Any) -> tuple[int, int]:
    """(trainable, total) parameters, as peft's print_trainable_parameters counts them (a 4-bit weight
    holds two parameters per stored byte)."""
    if hasattr(model, "get_nb_trainable_parameters"):
        trainable, total = model.get_nb_trainable_parameters()
        return int(trainable), int(total)
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def _module_of(key: str) -> str:
    return key.rsplit(".", 1)[0] if "." in key else ""


def head_modules(model: Any, loading_info: dict[str, Any]) -> list[str]:
    """The modules holding weights the checkpoint did not have (newly initialised or resized heads): they
    must train whole, or the adapters would learn around a random head. A module that holds the output
    embeddings (tied to the input ones) is left out: training it whole would untie a vocabulary-sized matrix."""
    keys = set(loading_info.get("missing_keys") or ())
    keys |= {k[0] if isinstance(k, tuple) else k for k in loading_info.get("mismatched_keys") or ()}
    names = dict(model.named_modules())
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    found: list[str] = []
    for key in sorted(keys):
        name = _module_of(key)
        module = names.get(name)
        if not name or module is None:
            continue
        if output is not None and any(m is output for m in module.modules()):
            continue
        if any(name == f or name.startswith(f + ".") for f in found):
            continue
        found = [f for f in found if not f.startswith(name + ".")] + [name]
    return found


def family_heads(model: Any) -> list[str]:
    """The task head around the base model: its top-level modules other than the base model that hold weights
    of their own, not the (tied) input or output embeddings. What peft's task types keep trainable
    (classifier, score, qa_outputs), found from the model instead of a list, so new families get it too."""
    prefix = getattr(model, "base_model_prefix", "")
    tied: set[int] = set()
    for get in ("get_input_embeddings", "get_output_embeddings"):
        module = getattr(model, get, lambda: None)()
        if module is not None:
            tied |= {id(p) for p in module.parameters()}
    found = []
    for name, child in model.named_children():
        params = list(child.parameters())
        if name == prefix or not params or any(id(p) in tied for p in params):
            continue
        found.append(name)
    return found


def target_modules(model: Any, lora: LoraSpec, heads: list[str]) -> list[str]:
    """The layers that get adapters (see the module docstring for the order of choice)."""
    if lora.target_modules:
        return list(lora.target_modules)
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    known = DEFAULTS.get(getattr(model.config, "model_type", ""))
    if known:
        return list(known)
    return _linear_names(model, heads)


def _linear_names(model: Any, heads: list[str]) -> list[str]:
    import torch
    from transformers.pytorch_utils import Conv1D

    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names = set()
    for name, module in model.named_modules():
        if not isinstance(module, (torch.nn.Linear, Conv1D)) or module is output:
            continue
        if any(name == h or name.startswith(h + ".") for h in heads):
            continue
        names.add(name.rsplit(".", 1)[-1])
    return sorted(names)


def adapters_for_estimate(model: Any, spec: TrainSpec) -> Any:
    """`model` (empty, on the meta device) with the adapters a LoRA job would add, for the memory plan: the same
    targets and trained heads as build_lora_model, the heads read from the model (an empty model has no loading
    report). Raises SpecError when lora.target_modules match no layer."""
    from peft import LoraConfig, get_peft_model

    from tui_hf.core.adapters import quiet_peft

    lora = spec.lora or LoraSpec()
    heads = family_heads(model)
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        target_modules=target_modules(model, lora, heads),
        modules_to_save=heads or None,
    )
    try:
        with quiet_peft():
            return get_peft_model(model, config)
    except ValueError as exc:
        raise SpecError(f"lora.target_modules match no layer of {spec.model} ({exc})") from None


def _keep_config(model: Any) -> Any:
    """Every save of the adapter also writes the base model's config.json (architecture, labels): a
    checkpoint or final directory then reads as a model directory everywhere (see core/adapters.py)."""
    save = model.save_pretrained

    def save_pretrained(save_directory: Any, *args: Any, **kwargs: Any) -> Any:
        result = save(save_directory, *args, **kwargs)
        model.get_base_model().config.save_pretrained(save_directory)
        return result

    model.save_pretrained = save_pretrained
    return model


def quantization(spec: TrainSpec) -> Any:
    """QLoRA's 4-bit base: NF4 weights, computing in bf16 where the GPU has it (the QLoRA paper's recipe)."""
    import torch
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute
    )


def build_lora_model(spec: TrainSpec, cls: Any, source: str, checkpoint: str | None, **kwargs: Any) -> Any:
    """The family's model with LoRA adapters, fresh from `source` or resumed from a checkpoint directory."""
    from peft import LoraConfig, get_peft_model

    from tui_hf.core.adapters import load_adapter_model, quiet_peft

    if spec.qlora:
        kwargs["quantization_config"] = quantization(spec)
        kwargs["device_map"] = {"": 0}
    if checkpoint is not None:
        model = load_adapter_model(
            cls,
            checkpoint,
            trainable=True,
            trust_remote_code=spec.trust_remote_code,
            **{k: v for k, v in kwargs.items() if k in ("use_safetensors", "quantization_config", "device_map")},
        )
        return _keep_config(model)
    model, info = cls.from_pretrained(source, output_loading_info=True, **kwargs)
    if spec.qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model)
    lora = spec.lora or LoraSpec()
    heads = sorted(set(family_heads(model)) | set(head_modules(model, info)))
    heads = [h for h in heads if not any(h.startswith(o + ".") for o in heads)]
    targets = target_modules(model, lora, heads)
    from transformers.pytorch_utils import Conv1D

    # GPT-2's Conv1D stores its weight transposed; peft needs telling (it warns and corrects otherwise).
    transposed = any(isinstance(m, Conv1D) for n, m in model.named_modules() if n.rsplit(".", 1)[-1] in targets)
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=targets,
        modules_to_save=heads or None,
        fan_in_fan_out=transposed,
    )
    try:
        with quiet_peft():
            peft_model = get_peft_model(model, config)
    except ValueError as exc:
        if "not found in the base model" not in str(exc) and "Target module" not in str(exc):
            raise
        raise SpecError(
            f"lora.target_modules {', '.join(config.target_modules)} match no layer of {spec.model}; "
            f"its linear layers are named {', '.join(_linear_names(model, heads)[:12])}"
        ) from None
    # An absolute path: the adapter is loaded again from the run directory, whatever the directory then.
    base = Path(source)
    peft_model.peft_config["default"].base_model_name_or_path = str(base.resolve()) if base.is_dir() else source
    return _keep_config(peft_model)
