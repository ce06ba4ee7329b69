"""StepWatch: the per-step bookkeeping both engines share (sentinel, batch X-ray record, control requests).

It watches the model through a forward hook, so it sees what the forward pass really received and
returned, in the native loop and inside Trainer alike (where a callback is never shown the per-step loss:
Trainer's `logging_nan_inf_filter` replaces a NaN step by the running mean before anything is logged).
Only training-mode forwards count; evaluation passes are ignored. The engine calls `end_step` after each
optimizer step, `evaluated` after each evaluation and `controls` at step boundaries, and acts on what they
return (save, evaluate, stop); the events are written here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tui_hf.core.training.control import Control, Inbox
from tui_hf.core.training.events import EventWriter
from tui_hf.core.training.sentinel import Alert, EarlyStopping, Sentinel, SentinelConfig, unknown_metric
from tui_hf.core.training.snapshots import KEYS, Offered, Snapshots


class StepWatch:
    def __init__(
        self,
        run_dir: str | Path,
        writer: EventWriter,
        *,
        config: SentinelConfig | None = None,
        task: str | None = None,
        collator: Any = None,
        record_batches: bool = True,
        early_stopping: EarlyStopping | None = None,
        metrics: list[str] | None = None,
        snapshots: Any = None,
    ) -> None:
        self.writer = writer
        # The eval metrics this run reports: the engine's, or (a script's Trainer) those of its first evaluation.
        self.metrics = list(metrics or [])
        self.config = config or SentinelConfig()
        self.sentinel = Sentinel(self.config) if self.config.policy != "off" else None
        self.task = task
        self.collator = collator
        self.inbox = Inbox(run_dir)
        self.early = early_stopping
        self.batches = None
        if record_batches:
            from tui_hf.core.training.xray import BatchLog

            self.batches = BatchLog(run_dir)
            if collator is not None and hasattr(collator, "pending"):
                collator.record = True
        self._losses: list[Any] = []
        self._supervised: list[Any] = []
        self._hashes: list[str] = []
        self._rows: list[int] | None = None
        self._micro: list[int] = []  # rows per forward pass: an accumulated step's micro-batches
        self._tokens = 0
        self._handle: Any = None
        # snapshots.Snapshots: the job's own X-ray copy of recent and flagged steps (needs the recorded rows).
        self.snapshots = snapshots if self.batches is not None else None
        self._inputs: list[dict[str, Any]] = []  # this step's forward inputs, held until it ends (no copy)

    # -- what the forward pass saw --

    def attach(self, model: Any) -> None:
        if self._handle is None and (self.sentinel is not None or self.batches is not None):
            self._handle = model.register_forward_hook(self._hook, with_kwargs=True)

    def detach(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _causal(self, module: Any) -> bool:
        if self.task is not None:
            from tui_hf.core.training.families import FAMILIES

            return self.task in FAMILIES and FAMILIES[self.task].shifted
        name = type(module).__name__
        return name.endswith("ForCausalLM") or "LMHead" in name

    def _hook(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        if not module.training:
            return
        loss = getattr(output, "loss", None)
        if loss is None and isinstance(output, (tuple, list)) and output:
            loss = output[0] if getattr(output[0], "dim", lambda: 1)() == 0 else None
        if loss is not None:
            self._losses.append(loss.detach())
        labels = kwargs.get("labels")
        if labels is not None and hasattr(labels, "dim"):
            lab = labels[:, 1:] if labels.dim() == 2 and self._causal(module) else labels
            self._supervised.append((lab != -100).sum())
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None and hasattr(ids, "shape") and self.batches is not None:
            from tui_hf.core.training.digest import batch_hash

            labels = kwargs.get("labels")
            digest = batch_hash(ids, labels if labels is not None and hasattr(labels, "shape") else None)
            self._hashes.append(digest)
            if self.snapshots is not None:
                self._inputs.append({k: v for k, v in kwargs.items() if k in KEYS} | {"input_ids": ids})
            mask = kwargs.get("attention_mask")
            self._tokens += int(mask.sum()) if mask is not None else int(ids.numel())
            pending = getattr(self.collator, "pending", None)
            while pending:  # pair with the collated batch of the same content (skipped batches passed over)
                h, rows = pending.popleft()
                if h == digest:
                    self._rows = (self._rows or []) + rows
                    self._micro.append(len(rows))
                    break

    # -- after each optimizer step --

    def end_step(self, step: int, grad_norm: float | None = None) -> list[Alert]:
        """Record the step, check it, write its alerts; returns them (the engine applies the policy)."""
        loss = None
        if self._losses:
            loss = float(sum(float(x) for x in self._losses) / len(self._losses))
        supervised = int(sum(int(x) for x in self._supervised)) if self._supervised else None
        record: dict[str, Any] | None = None
        if self.batches is not None and self._hashes:
            from tui_hf.core.training.digest import HASH_VERSION

            record = {"step": step, "hash": "+".join(self._hashes), "hash_v": HASH_VERSION}
            if self._rows is not None:
                record["rows"] = self._rows
                if len(self._micro) > 1 and len(self._micro) == len(self._hashes):
                    record["micro"] = self._micro  # the X-ray rebuilds each micro-batch as it was padded
            if loss is not None:
                record["loss"] = loss if math.isfinite(loss) else str(loss)
            if supervised is not None:
                record["supervised"] = supervised
            record["tokens"] = self._tokens
            self.batches.write(record)
        rows, micro, inputs = self._rows, self._micro, self._inputs
        self._losses, self._supervised, self._hashes, self._rows, self._tokens = [], [], [], None, 0
        self._micro, self._inputs = [], []
        alerts = [] if self.sentinel is None else self._report(self.sentinel.step(step, loss, grad_norm, supervised))
        if self.snapshots is not None and record is not None and rows is not None:
            sizes = micro if len(micro) == len(inputs) else [len(rows)]
            flagged = any(a.step == step for a in alerts)
            self.snapshots.offer(Offered(step, record["hash"], loss, inputs, rows, sizes), flagged)
        return alerts

    def grad_norm(self, step: int, grad_norm: float | None) -> list[Alert]:
        """A gradient norm seen later than its step (Trainer logs it; the callback never sees it per step)."""
        if self.sentinel is None or grad_norm is None:
            return []
        return self._report(self.sentinel.step(step, grad_norm=grad_norm))

    def _report(self, alerts: list[Alert]) -> list[Alert]:
        for a in alerts:
            self.writer.alert(a.message, level=a.level, step=a.step, kind=a.kind, action=self.config.policy)
        return alerts

    @property
    def policy(self) -> str:
        return self.config.policy

    # -- after each evaluation --

    def evaluated(self, step: int, metrics: dict[str, float], training: bool = True) -> tuple[list[Alert], bool]:
        """(alerts, stop): a metric trending worse; whether armed early stopping ends training now."""
        alerts = self._report(self.sentinel.evaluation(step, metrics)) if self.sentinel is not None else []
        if not self.metrics:
            self.metrics = sorted(k for k in metrics if k.startswith("eval_"))
        why = unknown_metric(self.early.metric, metrics) if self.early is not None else None
        if why:  # armed before the run's metrics were known (a script's Trainer, an old spec): say so, once
            self.early = None
            self.writer.control_ack("early-stop", via="early-stopping", message=f"{why}: disarmed", refused=True)
        stop = False
        if training and self.early is not None and self.early.update(metrics):
            stop = True
            self.writer.control_ack(
                "early-stop", via="early-stopping", message=f"{self.early.describe()}: stopping at step {step}"
            )
        return alerts, stop

    # -- requests from viewers --

    def controls(self) -> list[Control]:
        """New requests; unusable files are acknowledged as refused here."""
        out = []
        for item in self.inbox.poll():
            if isinstance(item, str):
                self.writer.control_ack("invalid", via="control", message=item, refused=True)
            else:
                out.append(item)
        return out

    def ack(self, control: Control, message: str, refused: bool = False) -> None:
        self.writer.control_ack(
            control.action, via="control", message=message, request=control.request, refused=refused or None
        )

    def arm(self, control: Control) -> None:
        """Arm early stopping as asked, or refuse a metric the run does not report; acknowledged either way."""
        why = unknown_metric(control.metric or "eval_loss", self.metrics)
        if why:
            self.ack(control, why, refused=True)
            return
        self.early = EarlyStopping(control.metric or "eval_loss", control.patience or 1)
        self.ack(
            control,
            f"early stopping armed: {self.early.metric.removeprefix('eval_')}, patience "
            f"{self.early.patience} evaluation(s)",
        )

    def disarm(self) -> str:
        was = self.early
        self.early = None
        return "early stopping disarmed" if was else "early stopping was not armed"

    def close(self) -> None:
        self.detach()
        if self.snapshots is not None:
            self.snapshots.flush()
        if self.batches is not None:
            self.batches.close()


def make_watch(ctx: Any, collator: Any = None, tokenizer: Any = None, prep: Any = None) -> StepWatch | None:
    """The watch for a job's context (rank 0 only: the others write nothing). With the tokenizer and the
    prepared data, it keeps the X-ray of recent and flagged steps for viewers (snapshots.py)."""
    if ctx.writer is None:
        return None
    spec = ctx.spec
    early = (
        EarlyStopping(spec.early_stopping_metric, spec.early_stopping_patience) if spec.early_stopping_metric else None
    )
    from tui_hf.core.training.sentinel import eval_metrics

    return StepWatch(
        ctx.run_dir,
        ctx.writer,
        config=SentinelConfig.from_spec(spec),
        task=spec.task,
        collator=collator,
        record_batches=spec.record_batches,
        early_stopping=early,
        metrics=list(eval_metrics(spec.task)),
        snapshots=(
            Snapshots(ctx.run_dir, spec.task, tokenizer, prep, ctx.checkpoint.step if ctx.checkpoint else 0)
            if tokenizer is not None and prep
            else None
        ),
    )
