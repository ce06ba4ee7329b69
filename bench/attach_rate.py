"""What `tui-hf attach` sends over SSH while a fast job trains: frames and bytes per second against the job's
own event rate, measured side by side in one run.

A tiny random BERT (the embedded tokenizer, 2 layers of 64) trains on the shipped data with a train event
every step, as fast as this machine runs it; `tui-hf attach RUN` runs in a 120x40 pseudo-terminal (the
shared tools/pty_rate.py way: writes and bytes after a 5 s warm-up). The view reads events at 2 Hz and
redraws only when something changed, so its frame rate stays at a few per second however many events arrive.
Usage: python bench/attach_rate.py [--seconds N]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def tiny_model(root: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from tui_hf.core.hub import embedded_model_dir

    tok = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    path = root / "tiny"
    BertForSequenceClassification(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def pty_rate(argv: list[str], seconds: float, warmup: float = 5.0) -> tuple[float, float, float]:
    """(KiB/s, reads/s, frames/s) a program sends to a 120x40 terminal, after `warmup` seconds. A pty hands
    over at most ~4 KiB per read, so one large frame arrives as several reads: reads less than 20 ms apart
    count as one frame."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.execvp(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    start, marks = time.monotonic(), []
    while time.monotonic() - start < warmup + seconds:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            marks.append((time.monotonic() - start, len(data)))
    os.kill(pid, signal.SIGTERM)
    time.sleep(0.5)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    late = [m for m in marks if m[0] > warmup]
    frames = sum(1 for i, (t, _) in enumerate(late) if i == 0 or t - late[i - 1][0] > 0.02)
    return sum(b for _, b in late) / seconds / 1024, len(late) / seconds, frames / seconds


def train_events(run_dir: Path) -> list[float]:
    import json

    out: list[float] = []
    path = run_dir / "events.jsonl"
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("event") == "train":
            out.append(float(e["time"]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    from tui_hf.core.training.job import create_run, job_pid, launch, request_stop
    from tui_hf.core.training.spec import DataSpec, TrainSpec
    from tui_hf.data import SENTIMENT_CSV

    with tempfile.TemporaryDirectory(prefix="tui-hf-bench-") as work:
        root = Path(work)
        spec = TrainSpec(
            data=DataSpec(train=str(SENTIMENT_CSV), max_length=32),
            model=str(tiny_model(root)),
            engine="native",
            epochs=1000,
            batch_size=8,
            logging_steps=1,
            device="cpu",
            max_steps=100000,
        )
        run_dir = create_run(spec, root / "runs", name="fast")
        launch(run_dir)
        try:
            deadline = time.monotonic() + 120
            while len(train_events(run_dir)) < 5:
                if time.monotonic() > deadline:
                    raise SystemExit("the job did not start training within 120 s")
                time.sleep(0.2)
            t0 = time.time()
            kib, reads, frames = pty_rate([sys.executable, "-m", "tui_hf", "attach", str(run_dir)], args.seconds)
            t1 = time.time()
            steps = [t for t in train_events(run_dir) if t0 + 5 <= t <= t1]
        finally:
            pid = job_pid(run_dir)
            request_stop(run_dir) if pid else None
            deadline = time.monotonic() + 60
            while job_pid(run_dir) and time.monotonic() < deadline:
                time.sleep(0.2)
            if job_pid(run_dir):
                os.killpg(job_pid(run_dir), signal.SIGKILL)  # type: ignore[arg-type]
            subprocess.run(["sync"], check=False)
    span = max(t1 - t0 - 5, 1e-9)
    print(f"tui-hf attach on a job logging every step, {args.seconds:.0f} s after a 5 s warm-up, 120x40 pty")
    print(f"  job: train events per second          {len(steps) / span:8.1f}")
    print(f"  attach: frames per second             {frames:8.1f}   (reads {reads:.1f}/s: a pty reads <= 4 KiB)")
    print(f"  attach: KiB per second                {kib:8.1f}   ({kib / max(frames, 1e-9):.1f} KiB per frame)")
    print(
        "  (the view reads events at 2 Hz and redraws only when they changed; the chart paints in a frame of its "
        "own: a few frames a second whatever the event rate)"
    )


if __name__ == "__main__":
    main()
