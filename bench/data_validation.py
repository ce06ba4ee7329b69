"""Validating a 200 MB CSV and a 200 MB JSON Lines file: time and peak memory, side by side.

    python bench/data_validation.py [--mb 200]

Each measurement runs in a fresh process (peak RSS is the process's own maximum, from getrusage):
  - "imports only": the interpreter with tui_hf's data module imported, validating nothing (the floor);
  - "streaming check": tui_hf's whole-file validation (every row, bounded memory);
  - "whole-file read": what the check did before (JSON: read the file and parse every line into a list;
    CSV: the rows as a list of dicts), for comparison.
The files are generated into a temporary directory, which is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = (
    "the film was a joy to watch and the cast made every scene count while the plot dragged in the middle "
    "yet the ending landed with real warmth and wit that few reviews would expect"
).split()

CHILD = r"""
import json, resource, sys, time
mode, path = sys.argv[1], sys.argv[2]
from tui_hf.core.training.datafile import validate_file
t = time.perf_counter()
if mode == "stream":
    report = validate_file(path, "text-classification", "text", "label")
    rows = report.rows
elif mode == "whole":
    if path.endswith(".csv"):
        import csv
        with open(path, encoding="utf-8", newline="") as fh:
            records = list(csv.DictReader(fh))
    else:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    rows = len(records)
else:
    rows = 0
elapsed = time.perf_counter() - t
print(json.dumps({"rows": rows, "seconds": elapsed, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def generate(directory: Path, megabytes: int) -> tuple[Path, Path]:
    rng = random.Random(0)
    csv_path, jsonl_path = directory / "reviews.csv", directory / "reviews.jsonl"
    target = megabytes * 2**20
    with open(csv_path, "w", encoding="utf-8", newline="") as c, open(jsonl_path, "w", encoding="utf-8") as j:
        c.write("text,label\n")
        written = 0
        while written < target:
            text = " ".join(rng.choices(WORDS, k=rng.randint(20, 60)))
            label = rng.choice(("positive", "negative", "neutral"))
            line = f'"{text}, really",{label}\n'
            c.write(line)
            j.write(json.dumps({"text": text + ", really", "label": label}) + "\n")
            written += len(line)
    return csv_path, jsonl_path


def measure(mode: str, path: Path) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(path)], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="size of each generated file (default 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tui-hf-bench-data-") as tmp:
        t = time.perf_counter()
        files = generate(Path(tmp), args.mb)
        print(f"generated {args.mb} MB CSV and JSONL in {time.perf_counter() - t:.1f} s")
        print(f"{'file':<14} {'size MB':>8} {'method':<16} {'rows':>9} {'seconds':>8} {'peak RSS MB':>12}")
        for path in files:
            size = path.stat().st_size / 2**20
            for mode, label in (
                ("imports", "imports only"),
                ("stream", "streaming check"),
                ("whole", "whole-file read"),
            ):
                r = measure(mode, path)
                print(
                    f"{path.name:<14} {size:>8.0f} {label:<16} {r['rows']:>9,} {r['seconds']:>8.2f} "
                    f"{r['peak_mb']:>12.0f}"
                )


if __name__ == "__main__":
    main()
