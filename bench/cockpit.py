"""What the cockpit's per-step bookkeeping costs: the same job with the sentinel and the batch X-ray record
on, and off (`sentinel: "off"`, `record_batches: false`), per engine, side by side.

Same model (the embedded all-MiniLM-L6-v2), data (the shipped sentiment.csv), batch size, max length and
seed on both sides; on and off runs alternate so machine drift hits both. Steps/s is 1 / the median time
between consecutive train events (logging_steps 1): start-up, the epoch-end evaluation and the checkpoint
are outside it, and so is a burst of other work on a shared machine. Bytes per step: what the run directory holds beyond the "off" run's
(batches.jsonl, plus any extra events), divided by the steps.
Usage: python bench/cockpit.py [--repeat N] [--steps N] [--engine trainer|native]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH, MAX_LEN = 8, 64


def run_dir_bytes(run_dir: Path) -> int:
    skip = {"checkpoints", "final"}
    return sum(
        p.stat().st_size
        for p in run_dir.rglob("*")
        if p.is_file()
        and not (set(p.relative_to(run_dir).parts) & skip)
        and p.name not in ("library.log", "train.log", "lock", "data.json", "spec.json")
    )


def one(root: Path, engine: str, on: bool, steps: int, n: int) -> tuple[float, int]:
    from tui_hf.core.hub import embedded_model_dir
    from tui_hf.core.training.job import create_run
    from tui_hf.core.training.spec import DataSpec, TrainSpec
    from tui_hf.data import SENTIMENT_CSV

    spec = TrainSpec(
        data=DataSpec(train=str(SENTIMENT_CSV), max_length=MAX_LEN),
        model=str(embedded_model_dir()),
        engine=engine,
        batch_size=BATCH,
        max_steps=steps,
        logging_steps=1,
        device="cpu",
        seed=42,
        sentinel="warn" if on else "off",
        record_batches=on,
    )
    run_dir = create_run(spec, root, name=f"{engine}-{'on' if on else 'off'}-{n}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "tui_hf.train", str(run_dir)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    times = {}
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["event"] == "train":
            times[e["step"]] = e["time"]
    steps = sorted(times)
    # The median step time, not the window's mean: on a shared machine one burst of another process's work
    # would otherwise decide the comparison.
    median = statistics.median(times[b] - times[a] for a, b in zip(steps, steps[1:]) if b == a + 1)
    return 1 / median, run_dir_bytes(run_dir)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument(
        "--engine", choices=("trainer", "native"), action="append", help="one engine (repeatable); both by default"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for engine in args.engine or ("trainer", "native"):
            rates: dict[bool, list[float]] = {True: [], False: []}
            sizes: dict[bool, list[int]] = {True: [], False: []}
            for n in range(args.repeat):
                for on in (False, True) if n % 2 == 0 else (True, False):
                    rate, size = one(root, engine, on, args.steps, n)
                    rates[on].append(rate)
                    sizes[on].append(size)
                    print(
                        f"  {engine} run {n + 1} cockpit {'on ' if on else 'off'}: {rate:.3f} steps/s, "
                        f"{size} bytes of events + batch record",
                        flush=True,
                    )
            off, on_ = statistics.median(rates[False]), statistics.median(rates[True])
            extra = (statistics.median(sizes[True]) - statistics.median(sizes[False])) / args.steps
            print(
                f"{engine}: off {off:.3f} steps/s, on {on_:.3f} steps/s, on/off {on_ / off:.3f} "
                f"({(1 - on_ / off) * 100:+.1f} % slower); +{extra:.0f} bytes per step "
                f"({args.repeat} runs each, medians)",
                flush=True,
            )


if __name__ == "__main__":
    main()
