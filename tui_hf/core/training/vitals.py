"""The training machine's vitals, sampled by the job itself: an attached view shows the numbers of the
machine that trains, not of the one watching.

Every few seconds a background thread of the job writes a `vitals` event: CPU and memory of the job's
process and its children, the machine's CPU and memory, the free disk where the run writes, and per GPU
utilisation, memory, temperature and power (nvidia-ml-py, `pip install tui-hf[gpu]`, where an NVIDIA GPU is
present). A sample costs 2-3 ms (median, a loaded 2-core machine) every five seconds: under 0.1 % of the
job's time. Each event carries the `rank` of the process that sampled it. In a job of several processes
every rank also samples itself at the same cadence and sends the `compact` numbers with its heartbeat
(nodes.py): rank 0 keeps them in RUN/ranks.json, where the row per rank shows them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SAMPLE_SECONDS = 5.0
FIRST_SAMPLE_SECONDS = 1.0  # CPU shares need an interval to measure over; the first one comes soon
GPU_IDLE_PERCENT = 0.0  # a GPU at this utilisation while the job trains is the first thing to look at
MEMORY_FULL = 0.95  # a GPU or the machine at this share of its memory is flagged

GpuReader = Callable[[], list[dict[str, Any]]]


def nvml_reader() -> GpuReader | None:
    """Per-GPU readings through NVML, or None where nvidia-ml-py or an NVIDIA driver is missing."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:
        return None
    if not handles:
        return None

    def reading(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception:  # a field this GPU or driver does not report
            return None

    def read() -> list[dict[str, Any]]:
        out = []
        for index, h in enumerate(handles):
            util = reading(lambda h=h: pynvml.nvmlDeviceGetUtilizationRates(h).gpu)
            mem = reading(lambda h=h: pynvml.nvmlDeviceGetMemoryInfo(h))
            temp = reading(lambda h=h: pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU))
            power = reading(lambda h=h: pynvml.nvmlDeviceGetPowerUsage(h))
            name = reading(lambda h=h: pynvml.nvmlDeviceGetName(h))
            out.append(
                {
                    "index": index,
                    "name": name.decode() if isinstance(name, bytes) else name,
                    "util": util,
                    "mem_used_mb": round(mem.used / 2**20) if mem else None,
                    "mem_total_mb": round(mem.total / 2**20) if mem else None,
                    "temp_c": temp,
                    "power_w": round(power / 1000, 1) if power is not None else None,
                }
            )
        return out

    return read


class Sampler:
    """One process (and its children) and the machine around it."""

    def __init__(self, where: Path, pid: int | None = None, gpu_reader: GpuReader | None = None) -> None:
        import psutil

        self.where = Path(where)
        self.gpu_reader = gpu_reader
        self.process = psutil.Process(pid or os.getpid())
        self._procs: dict[int, Any] = {}
        self._cpu_share()  # primes the counters: a CPU share is measured between two calls
        psutil.cpu_percent(None)

    def _cpu_share(self) -> tuple[float, float]:
        """(CPU %, resident MiB) of the process and its children; a child that ended drops out."""
        import psutil

        try:
            procs = [self.process, *self.process.children(recursive=True)]
        except psutil.Error:
            procs = [self.process]
        cpu = rss = 0.0
        kept: dict[int, Any] = {}
        for p in procs:
            p = self._procs.get(p.pid, p)  # the same object keeps its previous CPU times
            try:
                cpu += p.cpu_percent(None)
                rss += p.memory_info().rss
            except psutil.Error:
                continue
            kept[p.pid] = p
        self._procs = kept
        return cpu, rss / 2**20

    def sample(self) -> dict[str, Any]:
        import psutil

        cpu, rss = self._cpu_share()
        vm = psutil.virtual_memory()
        out: dict[str, Any] = {
            "cpu_percent": round(cpu, 1),
            "rss_mb": round(rss),
            "machine_cpu_percent": round(psutil.cpu_percent(None), 1),
            "cpus": psutil.cpu_count() or 1,
            "ram_used_mb": round((vm.total - vm.available) / 2**20),
            "ram_total_mb": round(vm.total / 2**20),
        }
        try:
            out["disk_free_gb"] = round(psutil.disk_usage(str(self.where)).free / 2**30, 1)
        except OSError:
            pass
        if self.gpu_reader is not None:
            try:
                out["gpus"] = self.gpu_reader()
            except Exception:  # a driver that stopped answering: the other numbers still go out
                pass
        return out


class VitalsThread(threading.Thread):
    """Writes a vitals event every `interval` seconds until stopped; never takes the job down with it."""

    def __init__(
        self,
        write: Callable[..., Any],
        where: Path,
        rank: int = 0,
        interval: float = SAMPLE_SECONDS,
        first: float = FIRST_SAMPLE_SECONDS,
        gpu_reader: GpuReader | None = None,
    ) -> None:
        super().__init__(name="tui-hf-vitals", daemon=True)
        self.write, self.where, self.rank = write, Path(where), rank
        self.interval, self.first, self.gpu_reader = interval, first, gpu_reader
        self.halt = threading.Event()
        self.seconds_spent = 0.0  # sampling time, for the overhead the bench reports

    def run(self) -> None:
        try:
            sampler = Sampler(self.where, gpu_reader=self.gpu_reader)
        except Exception:  # psutil missing or refused: no vitals, the training goes on
            return
        wait = self.first
        while not self.halt.wait(wait):
            wait = self.interval
            started = time.perf_counter()
            try:
                fields = sampler.sample()
            except Exception:
                continue
            self.seconds_spent += time.perf_counter() - started
            try:
                self.write(rank=self.rank, **fields)
            except Exception:  # the disk filled up or the run went away: the job itself reports that
                return

    def stop(self) -> None:
        self.halt.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=2)


def start_vitals(writer: Any, where: Path, rank: int = 0, gpu_reader: GpuReader | None = None) -> VitalsThread:
    """Sample in the background into `writer`'s run (GPUs through NVML unless a reader is given)."""
    thread = VitalsThread(writer.vitals, where, rank=rank, gpu_reader=gpu_reader or nvml_reader())
    thread.start()
    return thread


def gpu_flags(gpu: dict[str, Any]) -> list[str]:
    """What stands out about one GPU's reading: idle, or its memory nearly full."""
    flags = []
    util = gpu.get("util")
    if isinstance(util, (int, float)) and util <= GPU_IDLE_PERCENT:
        flags.append("idle")
    used, total = gpu.get("mem_used_mb"), gpu.get("mem_total_mb")
    if isinstance(used, (int, float)) and isinstance(total, (int, float)) and total > 0 and used / total >= MEMORY_FULL:
        flags.append("memory full")
    return flags


_RANK_FIELDS = ("cpu_percent", "rss_mb", "machine_cpu_percent", "ram_used_mb", "ram_total_mb")
_GPU_FIELDS = ("index", "util", "mem_used_mb", "mem_total_mb", "temp_c", "power_w")


def compact(sample: dict[str, Any]) -> dict[str, Any]:
    """The numbers a rank sends with its heartbeat: a store round trip a second, so no names or disk."""
    out = {k: sample[k] for k in _RANK_FIELDS if k in sample}
    gpus = [{k: g.get(k) for k in _GPU_FIELDS} for g in sample.get("gpus") or [] if isinstance(g, dict)]
    if gpus:
        out["gpus"] = gpus
    return out


def rank_headline(v: dict[str, Any]) -> str:
    """One rank's vitals in a line, its GPUs first (what a row per rank shows)."""
    parts = []
    for g in v.get("gpus") or []:
        if not isinstance(g, dict):
            continue
        util, used, total = g.get("util"), g.get("mem_used_mb"), g.get("mem_total_mb")
        text = f"gpu{g.get('index', '?')} " + (f"{util:.0f}%" if isinstance(util, (int, float)) else "?%")
        if isinstance(used, (int, float)) and isinstance(total, (int, float)) and total:
            text += f" {used / 1024:.1f}/{total / 1024:.0f} GiB"
        if isinstance(g.get("temp_c"), (int, float)):
            text += f" {g['temp_c']:.0f}°C"
        if isinstance(g.get("power_w"), (int, float)):
            text += f" {g['power_w']:.0f} W"
        parts.append(text)
    if isinstance(v.get("cpu_percent"), (int, float)):
        parts.append(f"cpu {v['cpu_percent']:.0f}%")
    if isinstance(v.get("rss_mb"), (int, float)):
        parts.append(f"ram {_mib(v['rss_mb'])}")
    used, total = v.get("ram_used_mb"), v.get("ram_total_mb")
    if isinstance(v.get("machine_cpu_percent"), (int, float)):
        parts.append(f"machine cpu {v['machine_cpu_percent']:.0f}%")
    if isinstance(used, (int, float)) and isinstance(total, (int, float)) and total:
        parts.append(f"machine ram {used / 1024:.1f}/{total / 1024:.0f} GiB")
    return " · ".join(parts)


def _mib(mb: float) -> str:
    return f"{mb / 1024:.1f} GiB" if mb >= 1024 else f"{mb:.0f} MiB"


def headline(v: dict[str, Any]) -> str:
    """One line of the latest sample: `tui-hf attach --once`, `tui-hf runs`."""
    parts = []
    if isinstance(v.get("cpu_percent"), (int, float)):
        parts.append(f"cpu {v['cpu_percent']:.0f}%")
    if isinstance(v.get("rss_mb"), (int, float)):
        parts.append(f"ram {_mib(v['rss_mb'])}")
    if isinstance(v.get("disk_free_gb"), (int, float)):
        parts.append(f"disk {v['disk_free_gb']:.0f} GiB free")
    for g in v.get("gpus") or []:
        if not isinstance(g, dict):
            continue
        util = g.get("util")
        used, total = g.get("mem_used_mb"), g.get("mem_total_mb")
        text = f"gpu{g.get('index', '?')} " + (f"{util:.0f}%" if isinstance(util, (int, float)) else "?")
        if isinstance(used, (int, float)) and isinstance(total, (int, float)) and total:
            text += f" {used / 1024:.1f}/{total / 1024:.0f} GiB"
        flags = gpu_flags(g)
        parts.append(text + (f" ({', '.join(flags)})" if flags else ""))
    return " · ".join(parts)
