"""Comparing runs: what differs in their specs, their curves on a shared axis, best and final metrics.

Curves are aligned by optimizer step, by epoch, or by samples seen (step × the samples per step each run's
start event recorded), so runs with different batch sizes still line up on the data they have consumed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui_hf.core.training.events import EventReader, RunState
from tui_hf.core.training.runs import SPEC

AXES = ("step", "epoch", "samples")


@dataclass
class RunMetrics:
    name: str
    path: Path
    curve: list[tuple[float, float]]  # (x on the chosen axis, train loss)
    best: dict[str, float]  # eval metric -> best value (lowest loss, highest anything else)
    final: dict[str, float]  # eval metric -> value at the last evaluation
    final_loss: float | None
    status: str


@dataclass
class Comparison:
    axis: str
    runs: list[RunMetrics]
    spec_diff: dict[str, list[Any]]  # key (dotted) -> the value in each run; only keys that differ
    best_delta: dict[str, list[float | None]] = field(default_factory=dict)  # metric -> run i minus run 0
    final_delta: dict[str, list[float | None]] = field(default_factory=dict)


def _flatten(raw: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(raw, dict):
        for k, v in raw.items():
            out.update(_flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _spec(run_dir: Path) -> dict[str, Any]:
    try:
        return _flatten(json.loads((run_dir / SPEC).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def spec_diff(run_dirs: list[Path]) -> dict[str, list[Any]]:
    """The spec keys whose values are not the same in every run (a key a run lacks shows as None)."""
    specs = [_spec(Path(p)) for p in run_dirs]
    keys = sorted({k for s in specs for k in s})
    return {
        k: [s.get(k) for s in specs] for k in keys if len({json.dumps(s.get(k), sort_keys=True) for s in specs}) > 1
    }


def _metrics(run_dir: Path, axis: str) -> RunMetrics:
    from tui_hf.core.training.runs import effective_status

    state = RunState(run_dir=Path(run_dir))
    events = EventReader(run_dir).read()
    state.apply(events)
    per_step = state.batch_size or 1
    epochs = {
        e["step"]: e["epoch"]
        for e in events
        if e.get("event") == "train"
        and not e.get("replay")
        and isinstance(e.get("step"), int)
        and isinstance(e.get("epoch"), (int, float))
    }

    def x(step: int) -> float:
        if axis == "epoch":
            return float(epochs.get(step, 0.0))
        if axis == "samples":
            return float(step * per_step)
        return float(step)

    best: dict[str, float] = {}
    final: dict[str, float] = {}
    for e in state.evals:
        if not e.get("step"):
            continue  # the baseline before training is not a result
        for k, v in e.items():
            if not k.startswith("eval_") or not isinstance(v, (int, float)) or not math.isfinite(v):
                continue
            final[k] = float(v)
            lower = "loss" in k
            if k not in best or (v < best[k] if lower else v > best[k]):
                best[k] = float(v)
    return RunMetrics(
        name=run_dir.name,
        path=run_dir,
        curve=[(x(s), v) for s, v in state.train],
        best=best,
        final=final,
        final_loss=state.train[-1][1] if state.train else None,
        status=effective_status(run_dir, state),
    )


def compare_runs(run_dirs: list[str | Path], axis: str = "step") -> Comparison:
    """Two or more runs side by side; deltas are each run minus the first."""
    if axis not in AXES:
        from tui_hf.core.errors import SpecError

        raise SpecError(f"axis must be one of {', '.join(AXES)}")
    dirs = [Path(p) for p in run_dirs]
    runs = [_metrics(p, axis) for p in dirs]
    out = Comparison(axis=axis, runs=runs, spec_diff=spec_diff(dirs))
    for name, table in (("best", out.best_delta), ("final", out.final_delta)):
        keys = sorted({k for r in runs for k in getattr(r, name)})
        for k in keys:
            base = getattr(runs[0], name).get(k)
            table[k] = [
                None if base is None or getattr(r, name).get(k) is None else getattr(r, name)[k] - base for r in runs
            ]
    return out


def aligned(comparison: Comparison) -> list[tuple[float, list[float | None]]]:
    """One row per x any run logged: each run's loss at that x (None where it logged none)."""
    tables = [dict(r.curve) for r in comparison.runs]
    xs = sorted({x for t in tables for x in t})
    return [(x, [t.get(x) for t in tables]) for x in xs]


def format_comparison(c: Comparison) -> str:
    names = [r.name for r in c.runs]
    lines = ["runs: " + "  vs  ".join(names)]
    if c.spec_diff:
        lines.append("spec differences:")
        for k, values in c.spec_diff.items():
            lines.append(f"  {k}: " + "  vs  ".join(json.dumps(v) for v in values))
    else:
        lines.append("spec differences: none")
    lines.append("status: " + "  vs  ".join(r.status for r in c.runs))
    lines.append(
        "final train loss: " + "  vs  ".join(f"{r.final_loss:.4f}" if r.final_loss is not None else "-" for r in c.runs)
    )
    for title, table, field_name in (("best", c.best_delta, "best"), ("final", c.final_delta, "final")):
        for k, deltas in table.items():
            values = [getattr(r, field_name).get(k) for r in c.runs]
            shown = "  vs  ".join(f"{v:.4f}" if v is not None else "-" for v in values)
            delta = "  ".join(f"{d:+.4f}" for d in deltas[1:] if d is not None)
            lines.append(f"{title} {k.removeprefix('eval_')}: {shown}" + (f"  (delta {delta})" if delta else ""))
    rows = aligned(c)
    if rows:
        stride = max(len(rows) // 10, 1)
        lines.append(f"train loss by {c.axis}" + (f" (every {stride}th of {len(rows)} points):" if stride > 1 else ":"))
        for x, losses in rows[::stride]:
            lines.append(f"  {x:>10g}  " + "  ".join(f"{v:.4f}" if v is not None else "     -" for v in losses))
    return "\n".join(lines)
