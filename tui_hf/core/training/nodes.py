"""Several machines: torchrun's c10d rendezvous, the ranks' heartbeats, and what a viewer makes of them.

`tui-hf train --nnodes N --node-rank R --rdzv HOST:PORT` runs the same spec on every machine under
`torch.distributed.run` with the c10d rendezvous. The machine with node rank 0 holds the run directory and
its lock; its first process is the writer (events, checkpoints, final model). The other machines train
from a node directory of their own (spec.json and data.json in a temporary folder) and write nothing into
the run.

c10d hands out ranks in the order it sorts the machines (by host name, then launcher pid), not by
--node-rank, so each worker renumbers itself (`adopt_node_rank`) before any process group exists: global
rank = node rank x processes per node + local rank. Rank 0 is then always on the machine that holds the run.

Heartbeats travel through the rendezvous's key-value store (a TCPStore every worker can reach), from a thread
of their own, so a rank blocked in a collective still beats and a dead one falls silent. Rank 0's thread
gathers every rank's latest beat into RUN/ranks.json; the live view and `attach --once` read that file. A beat
carries its rank's own vitals (vitals.py, sampled every few seconds): rank 0's vitals events see one machine.
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_hf.core.errors import SpecError

RANKS = "ranks.json"
NODE_RANK_ENV = "TUI_HF_NODE_RANK"  # set by `tui-hf train --node-rank` for torchrun's workers
NNODES_ENV = "TUI_HF_NNODES"
INTERVAL = 1.0  # seconds between two heartbeats of a rank
DEAD_AFTER = 5  # intervals without a beat: the rank is named dead
STRAGGLER = 1.5  # a step time this many times the median of the other ranks' names a straggler
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]+\]")


@dataclass(frozen=True)
class Nodes:
    """Where this machine stands among the machines of one job."""

    nnodes: int
    node_rank: int
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


def check_nodes(nnodes: int, node_rank: int | None, rdzv: str | None) -> Nodes | None:
    """The machines a `train` runs on (None: this machine alone), or SpecError naming the flag that is wrong."""
    if nnodes < 1:
        raise SpecError(f"--nnodes must be 1 or more, not {nnodes}")
    if nnodes == 1:
        if node_rank not in (None, 0):
            raise SpecError(f"--node-rank {node_rank} needs --nnodes {node_rank + 1} or more (one machine: rank 0)")
        if rdzv:
            raise SpecError("--rdzv is for several machines: give --nnodes 2 or more with it")
        return None
    if not rdzv:
        raise SpecError(
            f"--nnodes {nnodes} needs --rdzv HOST:PORT, the address every machine reaches node rank 0's "
            "rendezvous at (the same on each)"
        )
    if node_rank is None:
        raise SpecError(
            f"--nnodes {nnodes} needs --node-rank: 0 on the machine that holds the run, 1..{nnodes - 1} elsewhere"
        )
    if not 0 <= node_rank < nnodes:
        raise SpecError(f"--node-rank {node_rank} is out of range: with --nnodes {nnodes} it is 0 to {nnodes - 1}")
    host, port = parse_rdzv(rdzv)
    return Nodes(nnodes, node_rank, host, port)


def parse_rdzv(text: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 address in brackets), or SpecError."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not _HOST.fullmatch(host) or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise SpecError(f"--rdzv {text!r} is not HOST:PORT (for example 10.0.0.1:29500, the port 1-65535)")
    return host, int(port)


def torchrun_flags(nodes: Nodes, nproc: int) -> list[str]:
    """torch.distributed.run's arguments for one machine of the job (an argument list, never a shell line)."""
    return [
        f"--nnodes={nodes.nnodes}",
        f"--nproc-per-node={nproc}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={nodes.endpoint}",
        "--rdzv-id=tui-hf",
        "--max-restarts=0",  # a lost rank ends the job (resume continues it), rather than a silent restart
    ]


def node_env(nodes: Nodes) -> dict[str, str]:
    return {NODE_RANK_ENV: str(nodes.node_rank), NNODES_ENV: str(nodes.nnodes)}


def adopt_node_rank(env: dict[str, str] | os._Environ[str] = os.environ) -> None:
    """Renumber this worker by --node-rank (see the module's note); a no-op outside a several-machine job.

    Must run before torch.distributed or accelerate read RANK."""
    node = env.get(NODE_RANK_ENV)
    if node is None or "LOCAL_RANK" not in env:
        return
    per_node = int(env.get("LOCAL_WORLD_SIZE", "1"))
    world = int(env.get("WORLD_SIZE", "1"))
    nnodes = int(env.get(NNODES_ENV, "1"))
    if per_node * nnodes != world:
        raise SpecError(
            f"the machines do not run the same number of processes ({world} in all, {per_node} here on "
            f"{nnodes} machines): give every machine the same --nproc"
        )
    env["RANK"] = str(int(node) * per_node + int(env["LOCAL_RANK"]))
    env["GROUP_RANK"] = str(node)


# -- heartbeats --------------------------------------------------------------------------------------------


def _memory() -> tuple[float | None, float | None]:
    rss = cuda = None
    try:
        import psutil

        rss = round(psutil.Process().memory_info().rss / 2**20, 1)
    except Exception:
        pass
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            cuda = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    except Exception:
        pass
    return rss, cuda


class Heartbeat:
    """This rank's beat, sent every INTERVAL through the rendezvous store; rank 0 also writes RUN/ranks.json.

    `step(n)` after each optimizer step records the step and how long it took; the thread does the rest."""

    def __init__(
        self,
        rank: int,
        world: int,
        run_dir: Path | None,
        interval: float = INTERVAL,
        gpu_reader: Any = None,
        vitals_every: float | None = None,
    ) -> None:
        from tui_hf.core.training.vitals import FIRST_SAMPLE_SECONDS, SAMPLE_SECONDS

        self.rank, self.world, self.run_dir, self.interval = rank, world, run_dir, interval
        # This rank's own vitals, sampled at the vitals cadence (not every beat): what rank 0 cannot see of
        # another machine. The latest sample rides on every beat.
        self.gpu_reader, self.vitals_every = gpu_reader, SAMPLE_SECONDS if vitals_every is None else vitals_every
        self._first_vitals = min(FIRST_SAMPLE_SECONDS, self.vitals_every)
        self._sampler: Any = None
        self._sampled: float | None = None
        self._vitals: dict[str, Any] | None = None
        self.host = socket.gethostname()
        self.pid = os.getpid()
        from tui_hf.core.training.runlock import process_start

        self.proc_start = process_start(self.pid)
        self._step = 0
        self._step_time: float | None = None
        self._last = time.monotonic()
        self._fwd, self._fwd_start, self._forward = 0.0, None, None  # forward seconds this step, start, last step's
        self._beat = 0
        self._seen: dict[int, tuple[int, float]] = {}  # rank -> (beat number, when rank 0 first saw it)
        self._store: Any = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tui-hf-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def watch(self, model: Any) -> None:
        """Time the model's training forward passes: a step's wall time is the same on every rank (they wait
        for each other in the gradient all-reduce), the forward time shows which rank is slow."""

        def before(module: Any, args: Any) -> None:
            if module.training:
                self._fwd_start = time.monotonic()

        def after(module: Any, args: Any, output: Any) -> None:
            if module.training and self._fwd_start is not None:
                self._fwd += time.monotonic() - self._fwd_start
                self._fwd_start = None

        # After the other hooks' pre-work and before their post-work: only the model's own time is counted.
        model.register_forward_pre_hook(before)
        model.register_forward_hook(after, prepend=True)

    def step(self, step: int) -> None:
        now = time.monotonic()
        self._step_time, self._last, self._step = now - self._last, now, step
        self._forward, self._fwd = (self._fwd if self._fwd else None), 0.0

    def restart_clock(self) -> None:
        """An evaluation or a save is not a step's time."""
        self._last = time.monotonic()

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=2 * self.interval + 1)

    def _connect(self) -> Any:
        if self._store is None:
            from datetime import timedelta

            import torch.distributed as dist

            store = dist.TCPStore(
                os.environ["MASTER_ADDR"],
                int(os.environ["MASTER_PORT"]),
                is_master=False,
                timeout=timedelta(seconds=max(self.interval * 3, 5)),
            )
            self._store = dist.PrefixStore("tui-hf/heartbeat/", store)
        return self._store

    def sample_vitals(self) -> dict[str, Any] | None:
        """This rank's latest vitals, sampled again when the vitals interval is up (never an error)."""
        from tui_hf.core.training.vitals import Sampler, compact

        now = time.monotonic()
        try:
            if self._sampler is None:
                self._sampler = Sampler(self.run_dir or Path.cwd(), gpu_reader=self.gpu_reader)  # primes the CPU
                self._sampled = now
            elif now - (self._sampled or now) >= (self._first_vitals if self._vitals is None else self.vitals_every):
                self._vitals, self._sampled = compact(self._sampler.sample()), now
        except Exception:  # psutil missing or refused: the beat goes out without vitals
            pass
        return self._vitals

    def beat(self) -> None:
        """One beat: send this rank's; on rank 0, gather all and write ranks.json."""
        self._beat += 1
        rss, cuda = _memory()
        vitals = self.sample_vitals()
        mine = {
            "rank": self.rank,
            "host": self.host,
            "pid": self.pid,
            "start": self.proc_start,
            "step": self._step,
            "step_time": None if self._step_time is None else round(self._step_time, 4),
            "forward": None if self._forward is None else round(self._forward, 4),
            "rss_mb": rss,
            "cuda_mb": cuda,
            "time": time.time(),
            "beat": self._beat,
        }
        if vitals:
            mine["vitals"] = vitals
        try:
            store = self._connect()
            store.set(str(self.rank), json.dumps(mine))
        except Exception:
            store = None  # the store's machine is gone: rank 0 still writes what it last knew
            self._store = None
        if self.rank != 0 or self.run_dir is None:
            return
        rows = []
        now = time.time()
        for r in range(self.world):
            row: dict[str, Any] | None = mine if r == 0 else None
            if row is None and store is not None:
                try:
                    if store.check([str(r)]):
                        row = json.loads(store.get(str(r)))
                except Exception:
                    row = None
            if row is None:
                seen = self._seen.get(r)
                row = {"rank": r, "beat": seen[0] if seen else 0, "missing": True}
            beat = int(row.get("beat") or 0)
            if r not in self._seen or self._seen[r][0] != beat:
                self._seen[r] = (beat, now)
            row["seen"] = self._seen[r][1]  # rank 0's clock: machines' clocks may disagree
            rows.append(row)
        write_ranks(self.run_dir, {"interval": self.interval, "written": now, "world_size": self.world, "ranks": rows})

    def final(self) -> None:
        """The job failed: stop beating and record which ranks were already gone (the view names them)."""
        self._done.set()
        self._thread.join(timeout=2 * self.interval + 1)
        if self.rank != 0 or self.run_dir is None:
            return
        try:
            body = json.loads((self.run_dir / RANKS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        here, now = socket.gethostname(), time.time()
        for row in body.get("ranks", []):
            pid, seen = row.get("pid"), row.get("seen")
            if row.get("rank") == 0:
                continue
            if row.get("host") == here and isinstance(pid, int) and not _pid_alive(pid, row.get("start")):
                row["dead"] = "process gone"
            elif isinstance(seen, (int, float)) and now - seen > 2 * self.interval:
                row["dead"] = f"no heartbeat for {now - seen:.0f} s"
        body["ended"] = now
        write_ranks(self.run_dir, body)

    def _run(self) -> None:
        while True:
            try:
                self.beat()
            except Exception:
                pass  # a heartbeat must never end the training
            if self._done.wait(self.interval):
                return


def start_heartbeat(run_dir: Path, leader: bool) -> Heartbeat | None:
    """The heartbeat of this worker in a job of several processes; None for a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world < 2 or "MASTER_ADDR" not in os.environ:
        return None
    from tui_hf.core.training.vitals import nvml_reader

    rank = int(os.environ.get("RANK", "0"))
    reader = own_gpus(nvml_reader(), own_gpu_index())
    return Heartbeat(rank, world, run_dir if leader else None, gpu_reader=reader).start()


def own_gpu_index(env: dict[str, str] | os._Environ[str] = os.environ) -> int | None:
    """NVML's index of the GPU this worker trains on (cuda:LOCAL_RANK among the visible ones), or None where
    CUDA_VISIBLE_DEVICES names GPUs by UUID. NVML counts in PCI bus order, as CUDA does on a machine of alike
    GPUs."""
    local = int(env.get("LOCAL_RANK", "0"))
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return local
    ids = [x.strip() for x in visible.split(",") if x.strip()]
    return int(ids[local]) if local < len(ids) and ids[local].isdigit() else None


def own_gpus(reader: Any, index: int | None) -> Any:
    """A reader of this worker's GPU alone (the other processes on its machine report theirs); all of the
    machine's GPUs where its own is not among them."""
    if reader is None or index is None:
        return reader

    def read() -> list[dict[str, Any]]:
        gpus = reader()
        mine = [g for g in gpus if g.get("index") == index]
        return mine or gpus

    return read


def write_ranks(run_dir: Path, body: dict[str, Any]) -> None:
    from tui_hf.core.training.storage import write_atomic

    try:
        write_atomic(Path(run_dir) / RANKS, json.dumps(body))
    except OSError:
        pass  # the run's disk is full: the events say so; a heartbeat is not worth a crash


# -- what a viewer shows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankRow:
    rank: int
    host: str
    step: int | None
    step_time: float | None
    forward: float | None  # seconds of forward passes in its last step (what shows a slow rank)
    rss_mb: float | None
    cuda_mb: float | None
    age: float | None  # seconds since rank 0 last heard from it
    verdict: str  # "", "straggler", "dead: ...", a GPU idle or its memory full
    vitals: dict[str, Any] | None = None  # the rank's own latest sample (vitals.compact)


def read_ranks(run_dir: Path, active: bool, now: float | None = None) -> list[RankRow]:
    """One row per rank from RUN/ranks.json ([] for a run of one process). Dead and straggler verdicts are
    worked out while the run is `active` (or died without a final status); a failed run shows those its rank 0
    recorded as it failed; a finished run's processes are meant to be gone."""
    try:
        body = json.loads((Path(run_dir) / RANKS).read_text(encoding="utf-8"))
        raw = [r for r in body["ranks"] if isinstance(r, dict)]
        interval = float(body.get("interval") or INTERVAL)
        written = float(body["written"])
    except (OSError, ValueError, KeyError, TypeError):
        return []
    now = time.time() if now is None else now
    here = socket.gethostname()
    # The forward time where known: the step's wall time is the same on all ranks (see Heartbeat.watch).
    times = {
        int(r["rank"]): r.get("forward") if isinstance(r.get("forward"), (int, float)) else r.get("step_time")
        for r in raw
        if isinstance(r.get("forward"), (int, float)) or isinstance(r.get("step_time"), (int, float))
    }
    gpus = {int(r.get("rank", -1)): _gpus(r) for r in raw}
    rows = []
    for r in raw:
        rank = int(r.get("rank", -1))
        seen = r.get("seen")
        age = (now if active else written) - seen if isinstance(seen, (int, float)) else None
        verdict = f"dead: {r['dead']}" if r.get("dead") else ""
        if active and not verdict:
            pid = r.get("pid")
            if r.get("host") == here and isinstance(pid, int) and not _pid_alive(pid, r.get("start")):
                verdict = "dead: process gone"
            elif age is not None and age > DEAD_AFTER * interval:
                verdict = f"dead: no heartbeat for {age:.0f} s"
            else:
                others = [t for k, t in times.items() if k != rank]
                mine = times.get(rank)
                median = statistics.median(others) if others else 0.0
                # A median of 0: the others' steps rounded to 0 ms, nothing to be a multiple of.
                if mine is not None and median > 0 and mine > STRAGGLER * median:
                    verdict = f"straggler: {mine / median:.1f}x the others' compute time"
                others_work = any(_busy(g) for k, gs in gpus.items() if k != rank for g in gs)
                verdict = "; ".join([v for v in [verdict] if v] + _gpu_verdicts(gpus.get(rank, []), others_work))
        vitals = r.get("vitals")
        rows.append(
            RankRow(
                rank,
                str(r.get("host") or "?"),
                r.get("step"),
                r.get("step_time"),
                r.get("forward"),
                r.get("rss_mb"),
                r.get("cuda_mb"),
                age,
                verdict,
                vitals if isinstance(vitals, dict) else None,
            )
        )
    return sorted(rows, key=lambda x: x.rank)


def _gpus(row: dict[str, Any]) -> list[dict[str, Any]]:
    v = row.get("vitals")
    return [g for g in (v.get("gpus") or []) if isinstance(g, dict)] if isinstance(v, dict) else []


def _busy(gpu: dict[str, Any]) -> bool:
    from tui_hf.core.training.vitals import GPU_IDLE_PERCENT

    return isinstance(gpu.get("util"), (int, float)) and gpu["util"] > GPU_IDLE_PERCENT


def _gpu_verdicts(gpus: list[dict[str, Any]], others_work: bool) -> list[str]:
    """A rank's GPU idle while another rank's works (a rank that waits, or trains on its CPU), or one whose
    memory is nearly full (the next longer batch fails)."""
    from tui_hf.core.training.vitals import gpu_flags

    out = []
    for g in gpus:
        flags = gpu_flags(g)
        if "idle" in flags and others_work:
            out.append(f"gpu{g.get('index', '?')} idle while the others work")
        if "memory full" in flags:
            out.append(f"gpu{g.get('index', '?')} memory full")
    return out


def _pid_alive(pid: int, start: str | None = None) -> bool:
    """The rank's process still runs: not gone, not a zombie its launcher has yet to reap, not a new process
    that got its pid (`start`: the kernel's start time recorded in its heartbeat)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().decode("ascii", "replace").rsplit(")", 1)[1].split()
    except OSError:
        from tui_hf.core.training.runlock import process_alive

        return not os.path.exists("/proc/self") and process_alive(pid)  # no /proc (not Linux): the pid alone
    return fields[0] not in ("Z", "X") and (start is None or fields[19] == start)


def format_ranks(rows: list[RankRow]) -> list[str]:
    """The ranks as text lines: a header, a line a rank (and one of its vitals), the verdicts named."""
    if not rows:
        return []
    head = (
        f"  rank  {'host':<18}  {'step':>5}  {'step time':>9}  {'forward':>9}  {'RSS MiB':>8}  {'CUDA MiB':>8}  heard"
    )
    lines = [f"ranks ({len(rows)}):", head]
    for r in rows:
        lines += rank_lines(r)
    return lines


def rank_lines(r: RankRow) -> list[str]:
    """One rank's line, and under it its machine's vitals where the rank sent them."""

    def num(value: float | None, fmt: str) -> str:
        return format(value, fmt) if isinstance(value, (int, float)) else "-"

    lines = [
        f"  {r.rank:>4}  {r.host[:18]:<18}  {num(r.step, 'd'):>5}  {num(r.step_time, '.3f'):>7} s  "
        f"{num(r.forward, '.3f'):>7} s  "
        f"{num(r.rss_mb, '.0f'):>8}  {num(r.cuda_mb, '.0f'):>8}  {num(r.age, '.0f'):>4} s ago"
        + (f"  {r.verdict}" if r.verdict else "")
    ]
    if r.vitals:
        from tui_hf.core.training.vitals import rank_headline

        text = rank_headline(r.vitals)
        if text:
            lines.append(f"        {text}")
    return lines
