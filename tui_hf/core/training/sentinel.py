"""The sentinel: pure checks that turn per-step and per-evaluation numbers into alerts.

Both engines (and TuiHfCallback in anyone's script) feed it the same facts: each optimizer step's loss,
gradient norm and number of supervised tokens, each evaluation's metrics. It holds no model, no file and no
clock of its own, so its rules are tested on plain numbers. The stall rule runs in viewers (`tui-hf runs`,
`attach`), since a job that has stopped stepping cannot report that about itself.

Every check is edge-triggered: a condition that stays true (a NaN loss poisons every later step) alerts
once, at the step it began, and again only after it has cleared.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tui_hf.core.training.families import FAMILIES

POLICIES = ("warn", "save", "stop", "off")
WINDOW = 50  # steps in the rolling median the spike and explosion rules compare against
MIN_HISTORY = 10  # steps needed before a spike can be told from the first noisy steps

# Alert kinds, as written in the events' "kind" field.
NONFINITE_LOSS = "nonfinite-loss"
NONFINITE_GRAD = "nonfinite-grad-norm"
NO_SUPERVISED = "no-supervised-tokens"
LOSS_SPIKE = "loss-spike"
GRAD_EXPLOSION = "grad-norm-explosion"
EVAL_WORSE = "eval-worse"
STALL = "stall"


@dataclass(frozen=True)
class Alert:
    kind: str
    message: str
    step: int
    level: str = "warning"


@dataclass
class SentinelConfig:
    policy: str = "warn"  # what the job does on an alert: warn (an event only), save a checkpoint, or stop
    spike_factor: float = 5.0  # a loss above factor × the rolling median is a spike
    grad_norm_factor: float = 10.0  # a gradient norm above factor × its rolling median is an explosion
    worse_evals: int = 3  # an eval metric worse this many evaluations in a row
    stall_factor: float = 10.0  # no step for factor × the median step time (viewers check this)

    @classmethod
    def from_spec(cls, spec: Any) -> SentinelConfig:
        return cls(
            policy=spec.sentinel,
            spike_factor=spec.spike_factor,
            grad_norm_factor=spec.grad_norm_factor,
            worse_evals=spec.worse_evals,
            stall_factor=spec.stall_factor,
        )


def lower_is_better(metric: str) -> bool:
    return "loss" in metric or "perplexity" in metric or metric.endswith("error")


# Measures of an evaluation, not of the model's quality: neither way is worse (a summary may rightly shorten).
UNRANKED = ("gen_len", "runtime", "samples_per_second", "steps_per_second")


def ranked(metric: str) -> bool:
    return not metric.removeprefix("eval_").endswith(UNRANKED)


def eval_metrics(task: str) -> tuple[str, ...]:
    """What the app's engines report at each evaluation: the task's family says."""
    return FAMILIES[task].metrics if task in FAMILIES else ("eval_loss",)


def metric_key(metric: str) -> str:
    """A metric as evaluations name it: `loss` and `eval_loss` are the same one."""
    return metric if metric.startswith("eval_") else f"eval_{metric}"


def unknown_metric(metric: str, known: Any) -> str | None:
    """Why early stopping cannot watch `metric` among the `known` ones a run reports (None: it can).

    Armed on a metric that never comes, early stopping would wait forever without a word."""
    names = sorted(k for k in known if k.startswith("eval_"))
    if not names or metric_key(metric) in names:
        return None
    return (
        f"early stopping on {metric!r}: this run reports no such metric; it reports "
        f"{', '.join(k.removeprefix('eval_') for k in names)}"
    )


@dataclass
class Sentinel:
    config: SentinelConfig = field(default_factory=SentinelConfig)

    def __post_init__(self) -> None:
        self._losses: deque[float] = deque(maxlen=WINDOW)
        self._norms: deque[float] = deque(maxlen=WINDOW)
        self._active: set[str] = set()  # conditions true at the last check (edge-triggering)
        self._evals: dict[str, list[float]] = {}

    def _edge(self, kind: str, now: bool, alert: Alert | None, out: list[Alert]) -> None:
        if now and kind not in self._active and alert is not None:
            out.append(alert)
        (self._active.add if now else self._active.discard)(kind)

    def step(
        self, step: int, loss: float | None = None, grad_norm: float | None = None, supervised: int | None = None
    ) -> list[Alert]:
        """Alerts for one optimizer step (None for what this caller cannot see at this step)."""
        out: list[Alert] = []
        if loss is not None:
            bad = not math.isfinite(loss)
            self._edge(
                NONFINITE_LOSS,
                bad,
                Alert(
                    NONFINITE_LOSS,
                    f"the loss is {loss} at step {step}: lower learning_rate or check the data",
                    step,
                    "error",
                ),
                out,
            )
            if not bad:
                spike = None
                if len(self._losses) >= MIN_HISTORY:
                    median = statistics.median(self._losses)
                    if median > 0 and loss > self.config.spike_factor * median:
                        spike = Alert(
                            LOSS_SPIKE,
                            f"loss spike at step {step}: {loss:.4g} is "
                            f"{loss / median:.1f}× the median of the last {len(self._losses)} steps "
                            f"({median:.4g})",
                            step,
                        )
                self._edge(LOSS_SPIKE, spike is not None, spike, out)
                self._losses.append(loss)
        if grad_norm is not None:
            bad = not math.isfinite(grad_norm)
            self._edge(
                NONFINITE_GRAD,
                bad,
                Alert(NONFINITE_GRAD, f"the gradient norm is {grad_norm} at step {step}", step, "error"),
                out,
            )
            if not bad:
                boom = None
                if len(self._norms) >= MIN_HISTORY:
                    median = statistics.median(self._norms)
                    if median > 0 and grad_norm > self.config.grad_norm_factor * median:
                        boom = Alert(
                            GRAD_EXPLOSION,
                            f"gradient norm explosion at step {step}: {grad_norm:.4g} is "
                            f"{grad_norm / median:.1f}× its median ({median:.4g})",
                            step,
                        )
                self._edge(GRAD_EXPLOSION, boom is not None, boom, out)
                self._norms.append(grad_norm)
        if supervised is not None:
            # Not edge-triggered: each empty batch is its own event (the data has several such rows, or one).
            if supervised == 0:
                out.append(
                    Alert(
                        NO_SUPERVISED,
                        f"the batch of step {step} has no supervised tokens (every label is -100): it trains nothing",
                        step,
                    )
                )
        return out

    def evaluation(self, step: int, metrics: dict[str, float]) -> list[Alert]:
        """An alert per metric that got worse `worse_evals` evaluations in a row."""
        out: list[Alert] = []
        need = self.config.worse_evals
        for key, value in metrics.items():
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not key.startswith("eval_"):
                continue
            if not ranked(key):
                continue
            history = self._evals.setdefault(key, [])
            history.append(float(value))
            del history[: -(need + 1)]
            worse = (
                need > 0
                and len(history) == need + 1
                and all((b > a) if lower_is_better(key) else (b < a) for a, b in zip(history, history[1:]))
            )
            name = key.removeprefix("eval_")
            self._edge(
                f"{EVAL_WORSE}:{key}",
                worse,
                Alert(
                    EVAL_WORSE, f"{name} got worse {need} evaluations in a row (now {value:.4g} at step {step})", step
                ),
                out,
            )
        return out


@dataclass
class EarlyStopping:
    """Stop after `patience` evaluations without improvement of `metric`, counted from when it was armed."""

    metric: str
    patience: int
    lower_is_better: bool | None = None  # None: from the metric's name (losses go down, accuracy up)
    best: float | None = None
    bad: int = 0

    def __post_init__(self) -> None:
        self.metric = metric_key(self.metric)
        if self.lower_is_better is None:
            self.lower_is_better = lower_is_better(self.metric)

    def update(self, metrics: dict[str, float]) -> bool:
        """Record one evaluation; True when training should stop."""
        value = metrics.get(self.metric)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        better = self.best is None or (value < self.best if self.lower_is_better else value > self.best)
        if better:
            self.best, self.bad = float(value), 0
        else:
            self.bad += 1
        return self.bad >= self.patience

    def describe(self) -> str:
        return f"{self.metric.removeprefix('eval_')} did not improve on {self.best:.4g} for {self.bad} evaluation(s)"


def stall(
    intervals: list[float], last_event: float | None, now: float, step: int, factor: float = 10.0, floor: float = 60.0
) -> Alert | None:
    """A stall: nothing written for `factor` × the median time between train events (at least `floor` s).

    `intervals`: seconds between recent consecutive train events (a logging interval, so a run that logs
    every 50 steps is not called stalled between two logs). Only meaningful while the job's process is
    alive (a dead one is "died", not stalled): the caller checks that.
    """
    if last_event is None or not intervals:
        return None
    median = statistics.median(intervals)
    quiet = now - last_event
    if quiet <= max(factor * median, floor):
        return None
    return Alert(
        STALL, f"no progress for {quiet:.0f} s after step {step} (steps were logged every {median:.1f} s)", step
    )
