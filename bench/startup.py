"""Time to first painted frame of `tui-hf` vs `python -c "import torch, transformers"`, side by side.

The app runs in a real pseudo-terminal; it appends "painted" and "ready" wall-clock marks to a file named
by TUI_HF_BENCH_MARKS (and exits once the model is ready). Usage: python bench/startup.py [--runs N]
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
import time


def time_import() -> float:
    started = time.time()
    subprocess.run([sys.executable, "-c", "import torch, transformers"], check=True)
    return time.time() - started


def time_app() -> tuple[float, float]:
    marks = tempfile.NamedTemporaryFile("r", suffix=".marks", delete=False)
    env = {**os.environ, "TUI_HF_BENCH_MARKS": marks.name, "TERM": "xterm-256color"}
    started = time.time()
    pid, fd = pty.fork()
    if pid == 0:  # child: the app, on the pty
        os.execvpe(sys.executable, [sys.executable, "-m", "tui_hf"], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    deadline = started + 120
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                os.read(fd, 65536)  # keep the pty drained so the app never blocks on output
            except OSError:
                break
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
    else:
        os.kill(pid, 9)
        raise SystemExit("the app did not become ready within 120 s")
    found = dict(line.split() for line in open(marks.name).read().splitlines())
    os.unlink(marks.name)
    return float(found["painted"]) - started, float(found["ready"]) - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    imports, painted, ready = [], [], []
    for _ in range(args.runs):  # interleaved so both see the same machine state and disk cache
        imports.append(time_import())
        p, r = time_app()
        painted.append(p)
        ready.append(r)
    med = statistics.median
    print(f"runs: {args.runs} (median)")
    print(f"  import torch, transformers          {med(imports):6.2f} s")
    print(f"  tui-hf first painted frame           {med(painted):6.2f} s")
    print(f"  tui-hf model loaded (embedded MiniLM) {med(ready):6.2f} s")
    print(f"  first frame / bare import             {med(painted) / med(imports):6.2f}x")


if __name__ == "__main__":
    main()
