"""What a training engine is, and the parts both engines share.

An `Engine` prepares (tokenizer, data, model, the checkpoint it resumes from), evaluates, trains and saves;
`drive` runs one in that order, with a baseline evaluation before the first step of a fresh run, and turns
a stop request during preparation or the baseline into a clean "stopped" outcome. Adding an engine means one
class with these four methods that writes through the `EventWriter` it is given (see README, "Adding a
training engine").
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from tui_hf.core.errors import Cancelled, SpecError
from tui_hf.core.training.events import EventWriter
from tui_hf.core.training.preflight import HEADS, DataPlan, head_labels, reconcile_labels
from tui_hf.core.training.spec import TrainSpec
from tui_hf.core.training.storage import storage_error


class StopRequest(threading.Event):
    """A graceful stop asked for by a signal; acknowledged in the events once, when the job acts on it."""

    def __init__(self) -> None:
        super().__init__()
        self.via = ""
        self.acknowledged = False

    def request(self, via: str) -> None:
        self.via = self.via or via
        self.set()


@dataclass
class Context:
    spec: TrainSpec
    run_dir: Path
    writer: EventWriter | None  # None on every rank but 0: only rank 0 writes
    stop: StopRequest
    plan: DataPlan
    checkpoint: Any = None  # checkpoints.Checkpoint to resume from, or None
    heartbeat: Any = None  # nodes.Heartbeat in a job of several processes: told each finished step

    def acknowledge_stop(self, step: int) -> None:
        if self.writer is not None and self.stop.is_set() and not self.stop.acknowledged:
            self.stop.acknowledged = True
            self.writer.control_ack(
                "stop", via=self.stop.via or "request", message=f"stopping at step {step}: saving a checkpoint"
            )
            self.writer.status("stopping", message=f"{self.stop.via or 'stop'}: saving a checkpoint", step=step)


@dataclass
class StartInfo:
    total_steps: int
    epochs: float
    labels: list[str]
    batch_size: int  # samples per optimizer step, over all processes
    world_size: int = 1
    resumed_from_step: int = 0
    checkpoint: str | None = None
    trainable_parameters: int = 0  # what the optimizer updates (LoRA: the adapters and new heads)
    total_parameters: int = 0
    precision: str = "fp32"  # what the job trains in (spec "auto" resolved for its device)
    grad_accum: int = 1  # micro-batches per optimizer step
    grad_checkpointing: bool = False


@dataclass
class Outcome:
    stopped: bool
    step: int
    final_path: str | None = None
    total_steps: int = 0
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Engine(Protocol):
    name: ClassVar[str]

    def __init__(self, ctx: Context) -> None: ...

    def prepare(self) -> StartInfo:
        """Load tokenizer, data and model (from the checkpoint resumed from, if any). May raise Cancelled."""

    def evaluate(self, baseline: bool = False) -> dict[str, float]:
        """Evaluate and write the eval event; a baseline evaluation raises Cancelled on a stop request."""

    def train(self) -> Outcome:
        """Train to the end or to a stop request (then save a checkpoint at the current step)."""

    def save(self) -> str:
        """Save the final model and tokenizer; returns its directory."""


def drive(engine: Engine, ctx: Context) -> Outcome:
    recorded = ctx.plan.fingerprint is not None
    try:
        info = engine.prepare()
    except Cancelled:
        ctx.acknowledge_stop(0)
        return Outcome(True, 0, message="stopped while preparing the data: nothing trained yet")
    if ctx.writer is not None and not recorded and ctx.plan.fingerprint is not None:
        from tui_hf.core.training.data import save_plan

        save_plan(ctx.run_dir, ctx.plan)  # the data this run starts on, before its first step: a resume compares
    if ctx.writer is not None:
        ctx.writer.start(engine=engine.name, model=ctx.spec.model, **asdict(info))
        ctx.writer.status("running", step=info.resumed_from_step, total_steps=info.total_steps)
    if info.resumed_from_step == 0 and info.checkpoint is None:
        try:
            engine.evaluate(baseline=True)  # before the first step, so the curve shows what finetuning changed
        except Cancelled:
            ctx.acknowledge_stop(0)
            return Outcome(
                True,
                0,
                total_steps=info.total_steps,
                message="stopped during the baseline evaluation: nothing trained yet",
            )
    outcome = engine.train()
    outcome.total_steps = outcome.total_steps or info.total_steps
    if not outcome.stopped:
        outcome.final_path = engine.save()
    return outcome


# -- shared parts -----------------------------------------------------------------------------------------


def memory_mb() -> float | None:
    """Peak accelerator memory if training on a GPU, else this process's resident memory."""
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return torch.cuda.max_memory_allocated() / 2**20
    except Exception:
        pass
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except Exception:
        return None


def checkpoint_bytes(model: Any) -> int:
    """About what a checkpoint takes: the weights, AdamW's two float32 moments per weight, the tokenizer."""
    params = list(model.parameters())
    weights = sum(p.numel() * p.element_size() for p in params)
    return weights + sum(p.numel() for p in params if p.requires_grad) * 8 + 4 * 2**20


def storage_failure(run_dir: Path, what: str, needed: int) -> str | None:
    """Why a save failed, when the disk explains it: torch and safetensors report a failed write as an error of
    their own, and remove the partial file, so the facts checked are the free space against what was needed."""
    try:
        free = shutil.disk_usage(run_dir).free
    except OSError:
        return None
    if free >= needed:
        return None
    return (
        f"{what}: the disk is full (it needs about {needed / 2**20:.0f} MiB, {free / 2**20:.1f} MiB are free): "
        "free some space"
    )


def load_tokenizer_for(spec: TrainSpec) -> tuple[Any, Any]:
    from tui_hf.core.hub import parse_ref, resolve
    from tui_hf.core.models import load_tokenizer

    resolved = resolve(parse_ref(spec.model), offline=spec.offline)
    return resolved, load_tokenizer(resolved, trust_remote_code=spec.trust_remote_code)


def build_model(spec: TrainSpec, resolved: Any, labels: list[str], source: str | None = None) -> Any:
    """The model with the task's head, sized for the labels; refuses to drop a trained head silently.

    Local data was checked before the run (preflight); this check covers hub datasets, whose labels are
    only known here. `source`: a checkpoint to load instead (its head already has these labels).
    """
    import transformers

    from tui_hf.core.training.families import family

    kwargs: dict[str, Any] = {}
    if family(spec.task).labelled:
        if source is None:
            config = transformers.AutoConfig.from_pretrained(
                resolved.source, local_files_only=resolved.local_files_only, trust_remote_code=spec.trust_remote_code
            )
            head = HEADS[spec.task]
            trained = [a for a in (config.architectures or []) if a.endswith(head)]
            names = head_labels({"id2label": config.id2label}) if trained else []
            if trained and not spec.replace_head:
                kept = reconcile_labels(names, labels)
                if kept is None:
                    raise SpecError(
                        f"{spec.model} has a trained {head} head for labels {', '.join(names[:8])} but "
                        f"the data's are {', '.join(labels[:8])}; set replace_head to train a new head"
                    )
                labels = kept
            if trained and spec.replace_head and len(names) != len(labels):
                kwargs["ignore_mismatched_sizes"] = True
        kwargs.update(
            {
                "num_labels": len(labels),
                "id2label": dict(enumerate(labels)),
                "label2id": {name: i for i, name in enumerate(labels)},
            }
        )
    cls = getattr(transformers, "AutoModelFor" + HEADS[spec.task])
    if spec.lora is not None or spec.qlora:
        from tui_hf.core.training.lora import build_lora_model

        return build_lora_model(
            spec,
            cls,
            resolved.source,
            source,
            local_files_only=resolved.local_files_only,
            use_safetensors=None if spec.allow_pickle else True,
            trust_remote_code=spec.trust_remote_code,
            **kwargs,
        )
    return cls.from_pretrained(
        source or resolved.source,
        local_files_only=True if source else resolved.local_files_only,
        use_safetensors=None if spec.allow_pickle else True,
        trust_remote_code=spec.trust_remote_code,
        **kwargs,
    )


def enable_grad_checkpointing(model: Any, spec: TrainSpec) -> None:
    """Activations recomputed in the backward pass (spec grad_checkpointing); refused for a model without it."""
    if not spec.grad_checkpointing:
        return
    if not getattr(model, "supports_gradient_checkpointing", False):
        raise SpecError(f"{spec.model} ({type(model).__name__}) does not support gradient checkpointing")
    # Non-reentrant: works with inputs that need no grad (a frozen embedding) and with DDP. transformers 5
    # renamed it activation checkpointing (the old name warns).
    enable = getattr(model, "activation_checkpointing_enable", None)
    if enable is not None:
        enable({"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def job_precision(spec: TrainSpec, device: str) -> str:
    from tui_hf.core.training.precision import resolve_precision

    return resolve_precision(spec.precision, device)


def eval_metrics(
    spec: TrainSpec, loss: float, preds: list[Any], labels: list[Any], names: list[str], tokenizer: Any = None
) -> dict[str, float]:
    """An evaluation's metrics as the run's family scores them: eval_loss, its own, those from the loss.
    A family that generates is scored on the generated ids (`preds`), decoded with `tokenizer`."""
    from tui_hf.core.training.families import family

    fam = family(spec.task)
    result = {"eval_loss": loss}
    if preds:
        scored = fam.score_generated(tokenizer, preds, labels) if fam.generates else fam.score(preds, labels, names)
        result.update({f"eval_{k}": v for k, v in scored.items()})
    fam.from_loss(result)
    return result


def warmup_steps(spec: TrainSpec, total: int) -> int:
    return int(spec.warmup * total) if spec.warmup < 1 else int(spec.warmup)


def save_final(model: Any, tokenizer: Any, run_dir: Path) -> str:
    """The final model, written beside its place and renamed into it (a kill mid-save leaves no 'final')."""
    final = run_dir / "final"
    staged = run_dir / ".final-staging"
    try:
        shutil.rmtree(staged, ignore_errors=True)
        model.save_pretrained(staged)
        tokenizer.save_pretrained(staged)
        if final.exists():
            shutil.rmtree(final)
        staged.rename(final)
    except OSError as exc:
        shutil.rmtree(staged, ignore_errors=True)
        raise storage_error(exc, f"cannot save the final model in {run_dir}") from None
    return str(final)
