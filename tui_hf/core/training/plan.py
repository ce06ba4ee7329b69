"""The plan before a run (`tui-hf train --dry-run`, the New job dialog, the warning before a start): rows,
steps, parameters and a memory estimate for a spec, computed without creating a run or loading weights."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tui_hf.core.memory import Estimate
from tui_hf.core.training.preflight import HEADS, DataPlan, check, model_dir
from tui_hf.core.training.spec import TrainSpec


@dataclass
class JobPlan:
    train_rows: int | None  # None: a hub dataset, counted only when the job loads it
    validation_rows: int | None
    steps_per_epoch: int | None
    total_steps: int | None
    effective_batch: int  # rows per optimizer step over all processes: batch × accumulation × processes
    precision: str
    nproc: int = 1
    estimate: Estimate | None = None
    notes: list[str] = field(default_factory=list)  # what could not be planned, and why

    def lines(self, spec: TrainSpec) -> list[str]:
        rows = f"{self.train_rows} train rows" if self.train_rows is not None else "train rows: counted at start"
        if self.validation_rows:
            rows += f", {self.validation_rows} validation rows"
        steps = (
            f"{self.total_steps} optimizer steps ({self.steps_per_epoch} per epoch)"
            if self.total_steps is not None
            else "steps: counted at start"
        )
        batch = f"effective batch {self.effective_batch} ({spec.batch_size} × {spec.grad_accum} accumulation"
        batch += f" × {self.nproc} processes)" if self.nproc > 1 else ")"
        out = [
            rows,
            steps,
            batch,
            f"precision {self.precision}" + (", gradient checkpointing" if spec.grad_checkpointing else ""),
        ]
        e = self.estimate
        if e is not None:
            share = e.trainable / e.params if e.params else 0.0
            out.append(f"parameters: {e.params:,} ({e.trainable:,} trainable, {share:.1%})")
            out.append(f"memory per device: {e.summary()}")
            if e.warning():
                out.append(f"warning: {e.warning()}")
        out += self.notes
        return out


def split_rows(plan: DataPlan, spec: TrainSpec) -> tuple[int | None, int | None]:
    """(train, validation) rows after the split, as `datasets.train_test_split` makes it (the test side
    rounded up)."""
    train = next((r.rows for r in plan.reports if r.role == "train"), None)
    validation = next((r.rows for r in plan.reports if r.role == "validation"), None)
    if train is None:
        return None, None
    if validation is None and spec.data.validation_fraction > 0:
        validation = math.ceil(train * spec.data.validation_fraction)
        train -= validation
    return train, validation


def steps(spec: TrainSpec, train_rows: int, nproc: int = 1) -> tuple[int, int]:
    """(optimizer steps per epoch, total): both engines' count (a last, shorter accumulation group is a step)."""
    batches = math.ceil(math.ceil(train_rows / nproc) / spec.batch_size)
    per_epoch = max(math.ceil(batches / spec.grad_accum), 1)
    total = spec.max_steps if spec.max_steps > 0 else math.ceil(spec.epochs * per_epoch)
    return per_epoch, total


def memory_estimate(spec: TrainSpec, labels: list[str] | None = None) -> Estimate:
    """The estimate for one process of this spec. Raises TuiHfError (the model cannot be read) or ValueError."""
    import transformers

    from tui_hf.core.device import pick_device
    from tui_hf.core.errors import ModelLoadError
    from tui_hf.core.memory import empty_model, training_estimate
    from tui_hf.core.training.families import family
    from tui_hf.core.training.precision import resolve_precision

    _, directory = model_dir(spec)
    if directory is None:
        raise ModelLoadError(f"{spec.model} is not downloaded yet: its size is known once the job fetches it")
    config = transformers.AutoConfig.from_pretrained(
        str(directory), local_files_only=True, trust_remote_code=spec.trust_remote_code
    )
    if family(spec.task).labelled and labels:
        config.num_labels = len(labels)
    head = HEADS[spec.task]
    model = empty_model(config, head, spec.trust_remote_code)
    if spec.lora is not None or spec.qlora:  # only the adapters (and a new head) train: their gradients and states
        from accelerate import init_empty_weights

        from tui_hf.core.training.lora import adapters_for_estimate

        with init_empty_weights():
            model = adapters_for_estimate(model, spec)
    device = pick_device(spec.device).device
    return training_estimate(
        model,
        config,
        device,
        batch=spec.batch_size,
        length=spec.data.max_length,
        precision=resolve_precision(spec.precision, device),
        checkpointing=spec.grad_checkpointing,
        lm_head=head.endswith("LM"),
    )


def plan_job(spec: TrainSpec, nproc: int = 1, data: DataPlan | None = None) -> JobPlan:
    """Everything a start checks (RunRefused as a start would raise it), then the plan. Creates nothing."""
    from tui_hf.core.device import pick_device
    from tui_hf.core.errors import TuiHfError
    from tui_hf.core.training.precision import resolve_precision

    data = data if data is not None else check(spec, nproc)
    train, validation = split_rows(data, spec)
    per_epoch, total = steps(spec, train, nproc) if train is not None else (None, None)
    plan = JobPlan(
        train,
        validation,
        per_epoch,
        total,
        spec.batch_size * spec.grad_accum * nproc,
        resolve_precision(spec.precision, pick_device(spec.device).device),
        nproc,
    )
    try:
        plan.estimate = memory_estimate(spec, data.labels)
    except (TuiHfError, OSError, ValueError) as exc:
        plan.notes.append(f"memory: no estimate ({exc})")
    return plan


def memory_warning(spec: TrainSpec, labels: list[str]) -> str | None:
    """The warning a start gives when the estimate is over the device's free memory (never raises)."""
    try:
        return memory_estimate(spec, labels).warning()
    except Exception:  # a warning must never stop a start the checks allowed
        return None
