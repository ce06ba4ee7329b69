"""Throughput of two "machines" (two `tui-hf train --nnodes 2` on 127.0.0.1, gloo, one process each) against one
process, per engine: samples/s over the same steps, the same batch per process (so the two machines train
twice the samples per step).

Samples/s is measured from the run's train events, between step 2's and the last step's timestamps (start-up,
the baseline evaluation and the first step's warm-up are outside the window), times the samples per step the
start event records. On one machine the two "machines" share its cores: this measures the cost of the
rendezvous, the gradient all-reduce and the heartbeats, not a speed-up.
Usage: python bench/distributed.py [--engine native|trainer|both] [--steps N] [--batch B] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _samples_per_second(run_dir: Path) -> tuple[float, int]:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    start = next(e for e in events if e["event"] == "start")
    train = [e for e in events if e["event"] == "train" and e["step"] >= 2]
    first, last = train[0], train[-1]
    steps = last["step"] - first["step"]
    return steps * start["batch_size"] / (last["time"] - first["time"]), start["world_size"]


def run(engine: str, steps: int, batch: int, model: str | None, nnodes: int, root: Path) -> tuple[float, int]:
    spec = {
        "engine": engine,
        "max_steps": steps,
        "batch_size": batch,
        "logging_steps": 1,
        "device": "cpu",
        "data": {"train": "sentiment", "max_length": 64},
    }
    if model:
        spec["model"] = model
    path = root / f"{engine}-{nnodes}.json"
    path.write_text(json.dumps(spec))
    name = f"{engine}-{nnodes}"
    base = [sys.executable, "-m", "tui_hf", "train", str(path), "--data", "sentiment", "--runs-dir", str(root)]
    base += ["--name", name]
    if nnodes == 1:
        procs = [subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    else:
        rdzv = f"127.0.0.1:{_port()}"
        procs = [
            subprocess.Popen(
                [*base, "--nnodes", str(nnodes), "--node-rank", str(r), "--rdzv", rdzv],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for r in range(nnodes)
        ]
    codes = [p.wait(timeout=1800) for p in procs]
    if any(codes):
        raise SystemExit(f"{name}: exit codes {codes}: see {root / name}")
    return _samples_per_second(root / name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("native", "trainer", "both"), default="both")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8, help="samples per step on each process")
    parser.add_argument("--model", help="model directory (default: the embedded all-MiniLM-L6-v2)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    engines = ("native", "trainer") if args.engine == "both" else (args.engine,)
    print(f"{'engine':<8} {'processes':>9} {'samples/s':>10} {'vs one':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for engine in engines:
            one, _ = run(engine, args.steps, args.batch, args.model, 1, Path(tmp))
            two, world = run(engine, args.steps, args.batch, args.model, 2, Path(tmp))
            print(f"{engine:<8} {1:>9} {one:>10.1f} {1.0:>6.2f}x")
            print(f"{engine:<8} {world:>9} {two:>10.1f} {two / one:>6.2f}x")


if __name__ == "__main__":
    main()
