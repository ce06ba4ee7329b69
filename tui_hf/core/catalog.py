"""Where models are: the embedded default, the Hugging Face cache, finetuned runs, recent picks, the Hub.

Local sources are read from disk (cache scan, runs/ directories, a small JSON of recent models); the Hub is
asked only when online, and says it is offline instead of waiting on the network.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from tui_hf.core.errors import OfflineError
from tui_hf.core.hub import EMBEDDED, EMBEDDED_TITLE, embedded_model_dir, is_offline
from tui_hf.core.quiet import default_log_path

RECENT_LIMIT = 12


@dataclass(frozen=True)
class ModelEntry:
    reference: str  # what loads it: a hub id or a directory
    title: str
    source: str  # embedded | run | cache | recent | hub
    detail: str = ""


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _age(ts: float) -> str:
    days = (time.time() - ts) / 86400
    return "today" if days < 1 else f"{days:.0f} days ago"


def recent_path() -> Path:
    return default_log_path().with_name("recent.json")


def recent() -> list[str]:
    """Recently loaded models, newest first; directories that have since been deleted are left out."""
    try:
        data = json.loads(recent_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    items = [str(x) for x in data]
    return [r for r in items if r == EMBEDDED or not r.startswith(("/", ".", "~")) or os.path.isdir(r)][:RECENT_LIMIT]


def remember(reference: str) -> None:
    items = [reference] + [r for r in recent() if r != reference]
    path = recent_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(items[:RECENT_LIMIT]), encoding="utf-8")


def cached_models() -> list[ModelEntry]:
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir()
    except Exception:  # no cache yet, or an unreadable one
        return []
    out = []
    for repo in sorted(info.repos, key=lambda r: -r.last_accessed):
        if repo.repo_type == "model":
            out.append(
                ModelEntry(
                    repo.repo_id, repo.repo_id, "cache", f"{_size(repo.size_on_disk)} · used {_age(repo.last_accessed)}"
                )
            )
    return out


def run_models(runs_root: str | os.PathLike[str] | None = None) -> list[ModelEntry]:
    from tui_hf.core.training.job import runs_root as default_root

    base = Path(runs_root) if runs_root else default_root()
    if not base.is_dir():
        return []
    out = []
    for run in sorted((p for p in base.iterdir() if p.is_dir()), key=lambda p: -p.stat().st_mtime):
        final = run / "final"
        if (final / "config.json").is_file():
            out.append(ModelEntry(str(final), f"{run.name}/final", "run", f"finished {_age(final.stat().st_mtime)}"))
        for ckpt in sorted((run / "checkpoints").glob("checkpoint-*"), key=lambda p: -p.stat().st_mtime):
            if (ckpt / "config.json").is_file():
                out.append(ModelEntry(str(ckpt), f"{run.name}/{ckpt.name}", "run", "checkpoint"))
    return out


def local_models(runs_root: str | os.PathLike[str] | None = None) -> list[ModelEntry]:
    entries = []
    if embedded_model_dir() is not None:
        entries.append(ModelEntry(EMBEDDED, f"{EMBEDDED_TITLE} (embedded)", "embedded", "shipped with tui-hf"))
    entries += run_models(runs_root)
    entries += cached_models()
    seen = {e.reference for e in entries}
    entries += [ModelEntry(r, r, "recent") for r in recent() if r not in seen]
    return entries


def matches(entries: list[ModelEntry], query: str) -> list[ModelEntry]:
    words = query.lower().split()
    return [e for e in entries if all(w in f"{e.reference} {e.title}".lower() for w in words)]


def hub_models(query: str, task: str | None = None, limit: int = 20, offline: bool = False) -> list[ModelEntry]:
    """Hub models matching `query` for `task`, most downloaded first. Raises OfflineError at once offline."""
    if is_offline(offline):
        raise OfflineError("the Hugging Face Hub cannot be reached (offline): only local models are listed")
    from huggingface_hub import HfApi

    models = HfApi().list_models(search=query or None, pipeline_tag=task, sort="downloads", limit=limit)
    return [ModelEntry(m.id, m.id, "hub", f"{m.downloads or 0:,} downloads") for m in models]
