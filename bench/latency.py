"""What a person waits for at the keyboard, measured in a real terminal (tmux, 120x40): a typed character
to the token count on screen, F1 to the help on screen, x to a step's X-ray on screen (in a fresh viewer:
pressed as soon as the run shows, and pressed after the view has been up 3 s). The X-ray is on screen when its
rows are: the job's own copy of the step (runs/<id>/xray/) at once, then the rebuild from the data that
checks it ("rebuilt batch ..."), whose time is shown beside. Last, what keeping that copy costs the job.

Each wait runs from `tmux send-keys` to the moment `tmux capture-pane` shows what the key brings (polled
every 2 ms): what the terminal shows, whatever the app thinks it has painted. The X-ray is that of a step of
a run trained for 3 steps on the shipped data with the embedded model (the run is made first, ~20 s).
Usage: python bench/latency.py [--keys N] [--opens N] [--no-xray]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SESSION = f"tui-hf-latency-{os.getpid()}"
SETTLE = 10.0


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def wait_for(predicate: Callable[[str], bool], timeout: float = 60.0) -> float:
    """Seconds until the pane satisfies `predicate` (polled every 2 ms)."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if predicate(screen()):
            return time.perf_counter() - start
        time.sleep(0.002)
    raise SystemExit(f"timed out; the pane shows:\n{screen()}")


def start(command: list[str], ready: str, env: dict[str, str], settle: float = SETTLE) -> None:
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    tmux("kill-session", "-t", SESSION)
    tmux("new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40", f"env {exports} {' '.join(command)}")
    wait_for(lambda s: ready in s, timeout=180)
    time.sleep(settle)  # the model loads in the background after the first frame: keys wait for a quiet app


def stop() -> None:
    tmux("kill-session", "-t", SESSION)


def p90(values: list[float]) -> float:
    return sorted(values)[max(int(len(values) * 0.9) - 1, 0)]


def token_count(text: str) -> int | None:
    m = re.search(r"(\d+) tokens", text)
    return int(m.group(1)) if m else None


def keys(n: int, env: dict[str, str]) -> None:
    start([sys.executable, "-m", "tui_hf"], "tokens", env)
    waits = []
    for i in range(n):
        before = token_count(screen())
        # A space then a letter: each key adds a word, so the count on screen changes with every key pair.
        tmux("send-keys", "-t", SESSION, "-l", " " if i % 2 == 0 else "w")
        if i % 2 == 0:
            time.sleep(0.15)
            continue
        waits.append(wait_for(lambda s, b=before: token_count(s) not in (None, b)))
        time.sleep(0.1)
    stop()
    print(
        f"  key → token count on screen   median {statistics.median(waits) * 1e3:6.0f} ms   p90 {p90(waits) * 1e3:6.0f} ms"
    )


def help_opens(n: int, env: dict[str, str]) -> None:
    start([sys.executable, "-m", "tui_hf"], "tokens", env)
    waits = []
    for _ in range(n):
        tmux("send-keys", "-t", SESSION, "F1")
        waits.append(wait_for(lambda s: "tui-hf help" in s))
        tmux("send-keys", "-t", SESSION, "Escape")
        wait_for(lambda s: "tui-hf help" not in s)
        time.sleep(0.3)
    stop()
    print(
        f"  F1 → help on screen           first  {waits[0] * 1e3:6.0f} ms   then median {statistics.median(waits[1:] or waits) * 1e3:6.0f} ms"
    )


def make_run(root: Path) -> Path:
    from tui_hf.core.training.job import create_run
    from tui_hf.core.training.spec import DataSpec, TrainSpec
    from tui_hf.data import SENTIMENT_CSV

    spec = TrainSpec(
        data=DataSpec(train=str(SENTIMENT_CSV), max_length=64),
        model="embedded",
        engine="native",
        epochs=1,
        batch_size=8,
        logging_steps=1,
        device="cpu",
        max_steps=3,
    )
    run = create_run(spec, root / "runs", name="xray")
    subprocess.run([sys.executable, "-m", "tui_hf.train", str(run)], check=True, capture_output=True)
    return run


def xray_opens(n: int, env: dict[str, str]) -> None:
    root = Path(tempfile.mkdtemp(prefix="tui-hf-latency-"))
    try:
        run = make_run(root)
        attach = [sys.executable, "-m", "tui_hf", "attach", str(run)]
        # A fresh viewer each time: x the moment the run shows (its warm-up in flight), then x after the view
        # has been up 3 s (a person reads the chart first; the warm-up had that long).
        start(attach, "finished", env, settle=0.0)
        tmux("send-keys", "-t", SESSION, "x")
        cold = wait_for(rows_shown)
        checked = cold + wait_for(lambda s: "rebuilt batch" in s)
        stop()
        start(attach, "finished", env, settle=3.0)
        waits = []
        for _ in range(n):
            tmux("send-keys", "-t", SESSION, "x")
            waits.append(wait_for(rows_shown))
            wait_for(lambda s: "rebuilt batch" in s)
            tmux("send-keys", "-t", SESSION, "Escape")
            wait_for(lambda s: "Batch X-ray" not in s)
            time.sleep(0.3)
        stop()
        copy_cost(run)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"  x → X-ray on screen, x at once    first  {cold * 1e3:6.0f} ms   checked against the data at "
        f"{checked * 1e3:.0f} ms   (the viewer's warm-up still in flight)"
    )
    print(
        f"  x → X-ray on screen, x after 3 s  first  {waits[0] * 1e3:6.0f} ms   then median "
        f"{statistics.median(waits[1:] or waits) * 1e3:6.0f} ms   (first: prepared in the background meanwhile)"
    )


def rows_shown(text: str) -> bool:
    return "[0] line " in text and ("rebuilt batch" in text or "as the job trained it" in text)


def copy_cost(run: Path, repeats: int = 20) -> None:
    """What the job spends keeping its copy of a step: the run's own batch (8 rows x 64 tokens), then one of
    64 rows of the same texts (its rows repeated), built and written as the job does."""
    from tui_hf.core.training import xray
    from tui_hf.core.training.snapshots import Offered, Snapshots
    from tui_hf.core.training.spec import TrainSpec

    spec = TrainSpec.load(run / "spec.json")
    tok, prep = xray._prepared(run, spec)
    rows = xray.read_batches(run)[1]["rows"]
    keep = Snapshots(run, spec.task, tok, prep)
    for label, positions in (("8 rows", rows), ("64 rows", rows * 8)):
        batch = dict(prep.collator([prep.train[i] for i in positions]))
        times = []
        for i in range(repeats):
            keep._due = 0.0
            began = time.perf_counter()
            keep.offer(Offered(i + 1, "0", 0.5, [batch], positions, [len(positions)]), flagged=False)
            times.append(time.perf_counter() - began)
        ms = statistics.median(times) * 1e3
        print(
            f"  the job's copy of a step ({label})   {ms:5.1f} ms   kept at most once a second: "
            f"{ms / 10:.2f} % of the job's time"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=60, help="keys typed (every second one is measured)")
    parser.add_argument("--opens", type=int, default=5)
    parser.add_argument("--no-xray", action="store_true")
    args = parser.parse_args()
    if not shutil.which("tmux"):
        raise SystemExit("tmux is not installed")
    env = {"HF_HUB_OFFLINE": "1", "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="tui-hf-latency-home-") as home:
        env["TUI_HF_RUNS"] = str(Path(home) / "runs")
        print("tmux 120x40, what the pane shows")
        try:
            keys(args.keys, env)
            help_opens(args.opens, env)
            if not args.no_xray:
                xray_opens(args.opens, env)
        finally:
            stop()


if __name__ == "__main__":
    main()
