"""Loading and saving models: tokenizer and weights for a task's head, on the chosen device.

Loading is one pipeline, each step handing its result to the next: `hub.resolve` finds the files (the only
step that talks to the Hub before the weights), `card.model_facts` reads them once, the checks here decide
from those facts (remote code, a head for the task, pickle-only or damaged weights, a tokenizer), then
`load` reads the weights and `describe` says what is in memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_hf.core.card import (
    ModelFacts,
    causal_lm_problem,
    has_label_head,
    head_classes,
    known_model_type,
    model_facts,
)
from tui_hf.core.errors import (
    ModelLoadError,
    PickleOnlyError,
    RemoteCodeError,
    SaveTargetError,
    TargetNotEmptyError,
)
from tui_hf.core.hub import Resolved

if TYPE_CHECKING:
    from tui_hf.core.tasks.registry import TaskSpec

Progress = Callable[[str, float], None]


# -- loading --------------------------------------------------------------------------------------------


@dataclass
class ModelInfo:
    title: str
    source: str
    kind: str
    task: str
    architecture: str
    model_type: str
    parameters: int
    dtype: str
    device: str
    tokenizer_class: str
    vocab_size: int
    max_positions: int | None
    labels: dict[int, str]  # empty unless the head has one output per label (a config's LABEL_0, LABEL_1 are not)
    warnings: list[str] = field(default_factory=list)
    newly_initialized: list[str] = field(default_factory=list)
    adapter_on: str = ""  # a LoRA run's adapter: the base model it was merged into when loading
    placement: str = ""  # where the weights went, by device (device_map auto), e.g. "cuda:0 1.2 GiB, cpu 0.3 GiB"
    memory_mb: float | None = None  # the weights' footprint (quantized weights count their packed size)
    memory_plan: str = ""  # the estimate made before loading

    @property
    def parameters_text(self) -> str:
        n = self.parameters
        return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}K"


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    info: ModelInfo
    resolved: Resolved
    pipelines: dict[str, Any] = field(default_factory=dict)  # built once per task, reused by each run


def check_code(facts: ModelFacts, task: TaskSpec | None, trust_remote_code: bool) -> None:
    """Refuse, from the config alone, a model whose code transformers lacks, or that has no head for `task`.

    `task` None checks only the architecture (what a tokenizer needs). A model type the library does not
    know needs the model's own code (`auto_map`); so does a head the library lacks but `auto_map` names.
    """
    import transformers

    name, model_type, auto_map = facts.name, facts.model_type, facts.auto_map
    if model_type is None:  # an old config without model_type: transformers guesses from the name, so do not refuse
        return
    if not known_model_type(model_type):
        if not auto_map:
            raise ModelLoadError(
                f"transformers {transformers.__version__} does not know the model type "
                f"{model_type!r} of {name}: a newer transformers may"
            )
        if not trust_remote_code:
            raise RemoteCodeError(
                f"{name} needs its own Python code to load (model type {model_type!r} is not in "
                f"transformers {transformers.__version__}): run it only if you trust its source"
            )
        return
    if task is not None and task.model_class == "AutoModelForCausalLM":
        why = causal_lm_problem(name, facts.root, facts.config, f"run for {task.name}")
        if why:
            raise ModelLoadError(why)
    if task is None or head_classes(task.model_class, model_type):
        return
    model_class = task.model_class
    if model_class in auto_map:
        if not trust_remote_code:
            raise RemoteCodeError(
                f"{name}'s {model_class} head is its own Python code ({auto_map[model_class]}): "
                "run it only if you trust its source"
            )
        return
    raise ModelLoadError(
        f"{name} cannot serve {task.name}: a {model_type} model has no {model_class} head. "
        f"Pick another task, or a model made for it (e.g. {task.default_model})"
    )


def check_weights(facts: ModelFacts, allow_pickle: bool) -> None:
    """Refuse pickle-only weights unless allowed, and a model with no weights at all, from its file list."""
    weights = facts.weights
    if weights is None:  # the Hub could not list them: from_pretrained will find out
        return
    if weights.pickle_only and not allow_pickle:
        raise PickleOnlyError(
            f"{facts.name} has only pickle weights ({', '.join(weights.pickle)}), which can run arbitrary code "
            "when loaded: load them only if you trust their source"
        )
    if not weights.found:
        raise ModelLoadError(f"{facts.name} has no weights: no *.safetensors or pytorch_model.bin in {facts.root}")


def damaged_weights(root: Path) -> str | None:
    """A safetensors file whose header does not describe the file (cut short, not safetensors at all), or a
    shard that model.safetensors.index.json names and the directory lacks; None when the weights look whole.
    Reads the headers only (a few KB a file), so it can run before anything is loaded."""
    from safetensors import SafetensorError, safe_open

    index = root / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return f"{index} is not a readable weight index: download or save the model again"
        missing = sorted(str(s) for s in shards if not (root / str(s)).is_file())
        if missing:
            return f"{root} lacks {missing[0]}, a weight file its index names: download or save the model again"
    for path in sorted(root.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="numpy"):
                pass
        except (SafetensorError, OSError) as exc:
            return f"{path} is damaged ({_short(exc)}): download or save the model again"
    return None


# The vocabulary files of transformers' tokenizer classes (their vocab_files_names; helper files such as
# LUKE's entity_vocab.json left out); a sentencepiece model or a tiktoken file goes by its suffix.
TOKENIZER_FILES = frozenset(
    {
        "tokenizer.json",
        "vocab.txt",
        "vocab.json",
        "merges.txt",
        "tokenizer.model",
        "spiece.model",
        "spm.model",
        "sentencepiece.model",
        "sentencepiece.bpe.model",
        "bpe.codes",
        "dict.txt",
        "vocab-src.json",
        "vocab-tgt.json",
        "target_vocab.json",
        "prophetnet.tokenizer",
        "tekken.json",
    }
)
TOKENIZER_SUFFIXES = (".model", ".spm", ".tiktoken")


def _tokenizer_config(root: Path) -> dict[str, Any]:
    try:
        value = json.loads((root / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _declared_tokenizer_files(root: Path, config: dict[str, Any]) -> list[str] | None:
    """The files the model's tokenizer class reads (its vocab_files_names); None when the class is unknown.

    The class is the one AutoTokenizer picks: tokenizer_config.json's tokenizer_class, else the model type's.
    """
    name = _tokenizer_config(root).get("tokenizer_class")
    from transformers.models.auto.tokenization_auto import TOKENIZER_MAPPING_NAMES, tokenizer_class_from_name

    if not isinstance(name, str):
        name = TOKENIZER_MAPPING_NAMES.get(str(config.get("model_type")))
        if isinstance(name, (list, tuple)):
            name = next((n for n in name if n), None)
    cls = tokenizer_class_from_name(name) if isinstance(name, str) else None
    if cls is None:
        return None
    return [f for f in getattr(cls, "vocab_files_names", {}).values() if f != "tokenizer_config.json"]


def missing_tokenizer(root: Path, config: dict[str, Any]) -> str | None:
    """Why the model directory `root` cannot give its tokenizer, or None when it can.

    Without vocabulary files transformers still builds a tokenizer, from the special tokens alone: every word
    becomes [UNK], and a finetune on it "finishes" having learnt nothing. Decided from the files: one of the
    usual vocabulary files, else the files the tokenizer class declares (a byte-level one such as ByT5's
    declares none, and needs none).
    """
    tok_auto_map = _tokenizer_config(root).get("auto_map")
    auto_map = config.get("auto_map")
    if any(isinstance(m, dict) and "AutoTokenizer" in m for m in (auto_map, tok_auto_map)):
        return None  # the model's own tokenizer code decides what it reads (loading it takes trust_remote_code)
    names = {p.name for p in root.iterdir() if p.is_file()} if root.is_dir() else set()
    if names & TOKENIZER_FILES or any(n.endswith(TOKENIZER_SUFFIXES) for n in names):
        return None
    declared = _declared_tokenizer_files(root, config)
    if declared is not None and (not declared or names & set(declared)):
        return None
    wanted = ", ".join(declared) if declared else "tokenizer.json, vocab.txt, vocab.json + merges.txt or a .model file"
    return (
        f"{root} has no tokenizer files ({wanted}): its tokenizer would know only its special tokens and read "
        "every word as unknown; save the tokenizer there too (tokenizer.save_pretrained)"
    )


def check_tokenizer(resolved: Resolved, root: Path, config: dict[str, Any]) -> None:
    """Refuse a model whose files hold no tokenizer. A hub model still to be downloaded is not judged: only
    the files this machine has (a directory, the embedded model, or the cache when offline)."""
    if resolved.ref.kind == "hub" and not resolved.local_files_only:
        return
    why = missing_tokenizer(root, config)
    if why:
        raise ModelLoadError(why)


def load_tokenizer(resolved: Resolved, trust_remote_code: bool = False, facts: ModelFacts | None = None) -> Any:
    """The model's tokenizer, after the checks its files allow (`facts` when the caller has read them)."""
    facts = facts or model_facts(resolved)
    check_code(facts, None, trust_remote_code)
    check_tokenizer(resolved, facts.root, facts.config)
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(
            resolved.source, local_files_only=resolved.local_files_only, trust_remote_code=trust_remote_code
        )
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError... for a bad directory
        raise ModelLoadError(f"could not load a tokenizer from {resolved.ref.name}: {_short(exc)}") from exc


def load(
    resolved: Resolved,
    task: TaskSpec,
    device: str = "auto",
    dtype: str = "auto",
    *,
    tokenizer: Any = None,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    progress: Progress | None = None,
    device_map: str | None = None,
    quantize: str | None = None,
) -> LoadedModel:
    """Load tokenizer and model for `task` onto the chosen device. What the model's files already tell
    (remote code, no head for the task, pickle-only or missing weights) is refused before any weight is read."""
    report = progress or (lambda _stage, _frac: None)
    from tui_hf.core.device import pick_device
    from tui_hf.core.quiet import silence_imported_libraries

    report("importing torch", 0.05)
    import torch

    report("importing transformers", 0.2)
    import transformers

    silence_imported_libraries()
    plan = pick_device(device, dtype)
    check_quantize(quantize, plan.device)  # refused before anything is read
    report("reading the model's files", 0.3)
    facts = model_facts(resolved)
    check_code(facts, task, trust_remote_code)
    check_weights(facts, allow_pickle)
    report("loading tokenizer", 0.45)
    tok = tokenizer if tokenizer is not None else load_tokenizer(resolved, trust_remote_code, facts)
    report(f"loading weights ({task.model_class})", 0.6)
    auto_class = getattr(transformers, task.model_class)
    from tui_hf.core.adapters import adapter_base, load_merged

    base = adapter_base(facts.root)
    placed: dict[str, Any] = {}
    if quantize:
        # bitsandbytes quantizes as the weights load, onto the GPU: the compute dtype is the plan's.
        bnb = (
            {"load_in_8bit": True}
            if quantize == "8bit"
            else {
                "load_in_4bit": True,
                "bnb_4bit_quant_type": "nf4",
                "bnb_4bit_compute_dtype": getattr(torch, plan.dtype),
            }
        )
        placed["quantization_config"] = transformers.BitsAndBytesConfig(**bnb)
        placed["device_map"] = device_map or {"": plan.device}
    elif device_map:
        placed["device_map"] = device_map  # accelerate: fills the GPUs, then CPU memory, then disk
    estimate = memory_plan(resolved, task, plan.device if not device_map else "auto", quantize or plan.dtype)
    if estimate is not None:
        report(f"memory plan: {estimate.summary()}", 0.62)
    from tui_hf.core.memory import BUILDING

    try:
        with BUILDING:  # never while an empty model is built in another thread (core/memory.py)
            if base is not None:
                # Merged once here: inference then runs a plain model, as fast as the base.
                model = load_merged(
                    auto_class,
                    facts.root,
                    trust_remote_code=trust_remote_code,
                    use_safetensors=None if allow_pickle else True,
                    dtype=getattr(torch, plan.dtype),
                )
                loading_info: dict[str, Any] = {}
            else:
                model, loading_info = auto_class.from_pretrained(
                    resolved.source,
                    local_files_only=resolved.local_files_only,
                    trust_remote_code=trust_remote_code,
                    use_safetensors=None if allow_pickle else True,
                    dtype=getattr(torch, plan.dtype),
                    output_loading_info=True,
                    **placed,
                )
    except ModelLoadError:
        raise
    except Exception as exc:  # corrupt or truncated weights, shapes that do not match the config...
        raise ModelLoadError(f"could not load {resolved.ref.name} for {task.name}: {_short(exc)}") from exc
    if "device_map" not in placed:
        report(f"moving to {plan.device}", 0.9)
        model.to(plan.device)
    model.eval()
    info = describe(model, tok, resolved, task, plan.device)
    info.adapter_on = base or ""
    if placed:
        info.placement = placement(model)
        info.device = info.placement.split(" ")[0] if "," not in info.placement else "split"
    if quantize:
        info.dtype = f"{quantize} ({plan.dtype} compute)"
    info.memory_mb = round(model.get_memory_footprint() / 2**20, 1)
    if estimate is not None:  # the card shows it; the command line said it before loading
        info.memory_plan = estimate.warning() or estimate.summary()
    missing = sorted(loading_info.get("missing_keys") or [])
    if missing:
        info.newly_initialized = missing
        info.warnings.append(
            f"{len(missing)} weights of {info.architecture} are not in the checkpoint and were randomly "
            f"initialised ({', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}): its outputs mean "
            f"nothing until it is finetuned. For a trained {task.name} model try {task.default_model}."
        )
    report("ready", 1.0)
    return LoadedModel(model=model, tokenizer=tok, info=info, resolved=resolved)


QUANTIZE_CHOICES = ("8bit", "4bit")


def check_quantize(quantize: str | None, device: str) -> None:
    """bitsandbytes quantization needs a CUDA device and the package: refused up front elsewhere."""
    from tui_hf.core.errors import DeviceError

    if quantize is None:
        return
    if quantize not in QUANTIZE_CHOICES:
        raise DeviceError(f"quantize must be one of {', '.join(QUANTIZE_CHOICES)}, not {quantize!r}")
    if not device.startswith("cuda"):
        raise DeviceError(
            f"quantize {quantize} needs a CUDA GPU and bitsandbytes; the model would run on {device} here: "
            "leave quantize off, or use --dtype bfloat16 to halve the memory"
        )
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is None:
        raise ModelLoadError(f"quantize {quantize} needs bitsandbytes: pip install bitsandbytes")


def memory_plan(resolved: Resolved, task: TaskSpec, device: str, dtype: str) -> Any:
    """The memory estimate for loading this model (core/memory.py), from its config alone; None when the
    config is not on this machine yet or cannot be built empty."""
    if resolved.root is None:
        return None
    try:
        import transformers

        from tui_hf.core.memory import empty_model, inference_estimate

        config = transformers.AutoConfig.from_pretrained(str(resolved.root), local_files_only=True)
        model = empty_model(config, task.model_class.removeprefix("AutoModelFor").removeprefix("AutoModel"))
        return inference_estimate(model, config, device, dtype=dtype, lm_head=task.model_class.endswith("LM"))
    except Exception:  # an estimate is advice: a config it cannot read must not stop the load
        return None


def placement(model: Any) -> str:
    """Where the weights are, by device, largest first: "cuda:0 1.2 GiB, cpu 0.3 GiB"."""
    from collections import Counter

    from tui_hf.core.memory import gib

    sizes: Counter[str] = Counter()
    for p in model.parameters():
        sizes[str(p.device)] += p.numel() * p.element_size()
    return ", ".join(f"{device} {gib(n)}" for device, n in sizes.most_common())


def describe(model: Any, tok: Any, resolved: Resolved, task: TaskSpec, device: str) -> ModelInfo:
    config = model.config
    return ModelInfo(
        title=resolved.ref.title,
        source=resolved.source,
        kind=resolved.ref.kind,
        task=task.name,
        architecture=type(model).__name__,
        model_type=getattr(config, "model_type", "?"),
        parameters=sum(p.numel() for p in model.parameters()),
        dtype=str(next(model.parameters()).dtype).removeprefix("torch."),
        device=device,
        tokenizer_class=type(tok).__name__,
        vocab_size=len(tok),
        max_positions=getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None),
        labels={int(k): v for k, v in (getattr(config, "id2label", None) or {}).items()}
        if has_label_head(type(model).__name__, getattr(config, "model_type", ""))
        else {},
    )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def save(loaded: LoadedModel, directory: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Save model, tokenizer and config with save_pretrained (safetensors). Refuses a non-empty directory
    unless `overwrite`, so nothing is replaced by accident."""
    out = Path(directory).expanduser()
    if out.exists() and not out.is_dir():
        raise SaveTargetError(f"{out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise TargetNotEmptyError(f"{out} is not empty: saving there would replace the files it holds")
    out.mkdir(parents=True, exist_ok=True)
    loaded.model.save_pretrained(out)
    loaded.tokenizer.save_pretrained(out)
    return out
