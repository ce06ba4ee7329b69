"""The training machine's vitals: sampled by the job into its run, shown beside the run wherever it is watched."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import wait_until
from tests.helpers import text_of
from tui_hf.core.training.events import EventReader, EventWriter
from tui_hf.core.training.follow import snapshot
from tui_hf.core.training.vitals import VitalsThread

IDLE_FULL_GPU = {"index": 0, "util": 0, "mem_used_mb": 79800, "mem_total_mb": 81559, "temp_c": 38, "power_w": 61.5}
BUSY_GPU = {"index": 1, "util": 93, "mem_used_mb": 30720, "mem_total_mb": 81559, "temp_c": 74, "power_w": 402.0}


def fake_gpus() -> list[dict[str, Any]]:
    """Two GPUs as NVML would report them: one idle with its memory full, one busy."""
    return [dict(IDLE_FULL_GPU), dict(BUSY_GPU)]


def test_the_sampler_writes_the_machine_and_each_gpu_into_the_run(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path)
    thread = VitalsThread(writer.vitals, tmp_path, rank=0, interval=0.05, first=0.05, gpu_reader=fake_gpus)
    thread.start()
    deadline = time.monotonic() + 20
    while len([e for e in EventReader(tmp_path).read() if e["event"] == "vitals"]) < 2:
        assert time.monotonic() < deadline, "no vitals written"
        time.sleep(0.05)
    thread.stop()
    writer.close()
    v = [e for e in EventReader(tmp_path).read() if e["event"] == "vitals"][-1]
    import psutil

    assert v["rank"] == 0 and v["cpus"] == psutil.cpu_count()
    assert 0 < v["rss_mb"] < psutil.virtual_memory().total / 2**20  # this process's memory, in MiB
    assert v["ram_total_mb"] == round(psutil.virtual_memory().total / 2**20)
    assert abs(v["disk_free_gb"] - psutil.disk_usage(str(tmp_path)).free / 2**30) < 1.0
    assert v["gpus"] == fake_gpus()
    assert thread.seconds_spent < 0.5 * 2  # a sample takes milliseconds


def test_a_job_samples_its_machine_while_it_trains(tiny_bert_cls_dir: Path, tmp_path: Path) -> None:
    from tests.training_fixtures import spawn_job, spec_for
    from tui_hf.core.training.job import create_run

    run = create_run(spec_for(tiny_bert_cls_dir, "native", max_steps=1), tmp_path / "runs")
    # A fresh interpreter, as the app starts a job: a job forked warm (run_job) can end before the first sample
    assert spawn_job(run).returncode == 0
    events = EventReader(run).read()
    vitals = [e for e in events if e["event"] == "vitals"]
    assert vitals, [e["event"] for e in events]  # importing torch alone outlasts the first sample
    assert vitals[0]["rank"] == 0 and vitals[0]["rss_mb"] > 20 and "disk_free_gb" in vitals[0]
    assert "gpus" not in vitals[0]  # no NVIDIA GPU here: no GPU rows rather than made-up ones


def _running_run_with_vitals(run: Path) -> Any:
    from tui_hf.core.training.runlock import RunLock

    run.mkdir(parents=True)
    (run / "spec.json").write_text('{"model": "embedded", "task": "text-classification", "data": "x.csv"}')
    lock = RunLock.acquire(run)
    lock.record(os.getpid())
    w = EventWriter(run)
    w.start(engine="native", model="embedded", total_steps=100, epochs=1, labels=["neg", "pos"], batch_size=8)
    w.status("running", step=0, total_steps=100)
    w.train(step=1, epoch=0.01, loss=0.7, learning_rate=5e-5)
    for util in (80, 40, 0):
        gpus = fake_gpus()
        gpus[0]["util"] = util
        w.vitals(rank=0, cpu_percent=150.0, rss_mb=2048, machine_cpu_percent=60.0, cpus=16, ram_used_mb=20000,
                 ram_total_mb=65536, disk_free_gb=420.0, gpus=gpus)  # fmt: skip
    w.close()
    return lock


async def test_the_live_view_shows_the_vitals_and_flags_an_idle_gpu(tmp_path: Path) -> None:
    from tui_hf.ui.training.attach import AttachApp

    run = tmp_path / "runs" / "busy"
    lock = _running_run_with_vitals(run)
    try:
        app = AttachApp(run)
        async with app.run_test(size=(120, 40)) as pilot:
            shown = app.query_one("#run-vitals")
            await wait_until(pilot, lambda: "GPU1" in text_of(shown))
            text = text_of(shown)
            assert "job cpu" in text and "150%" in text and "disk 420 GiB free" in text
            assert "0% idle" in text and "77.9/79.6 GiB full" in text  # GPU0: the first thing to look at
            assert "93%" in text and "74°C" in text and "402 W" in text and "idle" not in text.split("GPU1")[1]
            assert "▁" in text.split("GPU0")[1]  # its utilisation over the samples, 80 → 0
            await pilot.pause()
            flagged = [s for s in shown.render_lines(shown.region.reset_offset) if "idle" in s.text]
            idle = [seg for seg in flagged[0] if "idle" in seg.text]
            assert idle and idle[0].style and idle[0].style.reverse  # drawn reversed, red: seen from across a room
    finally:
        lock.release()


def test_attach_once_and_runs_give_the_headline_numbers(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "busy"
    lock = _running_run_with_vitals(run)
    try:
        once = snapshot(run)
        assert "machine: cpu 150% · ram 2.0 GiB · disk 420 GiB free · gpu0 0% 77.9/80 GiB (idle, memory full)" in once
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        listed = subprocess.run(
            [sys.executable, "-m", "tui_hf", "runs", "--runs-dir", str(tmp_path / "runs")],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        line = next(x for x in listed.stdout.splitlines() if x.startswith("busy"))
        assert "gpu0 0% 77.9/80 GiB (idle, memory full)" in line and "gpu1 93%" in line
    finally:
        lock.release()


def test_a_sampler_ticking_does_not_hide_a_stalled_training() -> None:
    """The stall check reads when the run last moved: a vitals event five seconds ago is not a step."""
    from tui_hf.core.training.events import RunState

    state = RunState()
    state.apply(
        [
            {"event": "train", "time": 100.0, "step": 1, "loss": 0.5},
            {"event": "vitals", "time": 400.0, "rank": 0, "cpu_percent": 3.0},
        ]
    )
    assert state.updated == 100.0 and state.vitals[0]["cpu_percent"] == 3.0
