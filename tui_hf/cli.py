"""Command line: `tui-hf` opens the app; `tui-hf run` scripts a task and prints JSON.

Argument checks that need no model (task names, device names, paths) happen here, before anything heavy
is imported, so a typo costs a second, not the six it takes to import torch and transformers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from tui_hf import __version__
from tui_hf.core.device import DEVICE_CHOICES, DTYPE_CHOICES

EXIT_USAGE = 2
EXIT_LOAD = 3
EXIT_RUN = 4


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", default=None,
                   help="hub id, local model directory, or 'embedded' (the default: all-MiniLM-L6-v2, shipped)")
    p.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                   help="where the model runs; auto picks cuda, then mps, then cpu")
    p.add_argument("--dtype", default="auto", choices=DTYPE_CHOICES,
                   help="weights' dtype; auto is bfloat16 on GPUs that support it, float32 elsewhere")
    p.add_argument("--offline", action="store_true",
                   help="never contact the Hugging Face Hub (also set by HF_HUB_OFFLINE=1)")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="allow a model's own Python code to run (off by default: only for sources you trust)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="allow pickle (.bin) checkpoints, which can run code when loaded; safetensors otherwise")


def build_parser() -> argparse.ArgumentParser:
    from tui_hf.core.tasks.registry import task_names

    parser = argparse.ArgumentParser(
        prog="tui-hf",
        description="Explore Hugging Face transformers in the terminal: live tokenization, tasks, finetuning.",
        epilog="Run `tui-hf run --help` to run a task without the UI.",
    )
    parser.add_argument("--version", action="version", version=f"tui-hf {__version__}")
    parser.add_argument("--task", "-t", default="feature-extraction", metavar="TASK",
                        help="task to open with: " + ", ".join(task_names()))
    _add_model_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="run a task and print the result as JSON",
                         description="Run a task without the UI and print its result as JSON.")
    run.add_argument("task", metavar="TASK", help="one of: " + ", ".join(task_names()))
    run.add_argument("texts", nargs="*", help="input texts (one input each); '-' or none reads stdin lines")
    run.add_argument("--set", "-s", action="append", default=[], metavar="NAME=VALUE",
                     help="a task setting, e.g. -s top_k=3 or -s context='...'; see the task's fields")
    run.add_argument("--explain", action="store_true",
                     help="also print the explicit PyTorch path (tensors, logits, softmax) where the task has one")
    _add_model_options(run)
    return parser


def _fail(message: str, code: int) -> int:
    print(f"tui-hf: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from tui_hf.core.models import ModelLoadError, parse_ref
    from tui_hf.core.tasks.registry import UnknownTaskError, get_task

    try:
        task = get_task(args.task)
        parse_ref(args.model)
    except (UnknownTaskError, ModelLoadError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    if args.command == "run":
        return run_command(args, task)
    return launch_app(args, task.name)


def launch_app(args: argparse.Namespace, task: str) -> int:
    from tui_hf.ui.app import AppSettings, make_app

    settings = AppSettings(task=task, model=args.model, device=args.device, dtype=args.dtype,
                           offline=args.offline, trust_remote_code=args.trust_remote_code,
                           allow_pickle=args.allow_pickle)
    app = make_app(settings)
    app.run()
    return app.return_code or 0


def parse_settings(pairs: list[str], fields: dict[str, Any]) -> dict[str, Any]:
    """Turn NAME=VALUE pairs into typed task options, by the task's declared fields."""
    from tui_hf.core.tasks.forms import coerce

    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--set takes NAME=VALUE, got {pair!r}")
        if name not in fields:
            raise ValueError(f"unknown setting {name!r}; this task takes: {', '.join(fields) or 'none'}")
        out[name] = coerce(fields[name], value)
    return out


def run_command(args: argparse.Namespace, task: Any) -> int:
    from tui_hf.core.models import ModelLoadError, load, parse_ref, resolve
    from tui_hf.core.quiet import route_library_logs
    from tui_hf.core.tasks.common import TaskInputError, to_jsonable

    texts = [t for t in args.texts if t != "-"]
    if not texts:
        if sys.stdin is None or sys.stdin.isatty():
            return _fail("no input: pass texts as arguments or pipe them on stdin", EXIT_USAGE)
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    try:
        options = {**task.defaults(), **parse_settings(args.set, {f.name: f for f in task.fields})}
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)
    route_library_logs()
    try:
        loaded = load(resolve(parse_ref(args.model), offline=args.offline), task, args.device, args.dtype,
                      trust_remote_code=args.trust_remote_code, allow_pickle=args.allow_pickle)
    except ModelLoadError as exc:
        return _fail(str(exc), EXIT_LOAD)
    except ValueError as exc:  # DeviceError
        return _fail(str(exc), EXIT_USAGE)
    for warning in loaded.info.warnings:
        print(f"tui-hf: warning: {warning}", file=sys.stderr)
    try:
        result = task.load_runner()(loaded, texts, options, None)
        payload: dict[str, Any] = {"task": task.name, "model": loaded.info.title, "device": loaded.info.device,
                                   "result": to_jsonable(result)}
        explainer = task.load_explainer() if args.explain else None
        if explainer is not None:
            payload["explain"] = to_jsonable(explainer(loaded, texts, options, None))
    except TaskInputError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except Exception as exc:  # a model that fails mid-run: say what failed, no traceback on the terminal
        return _fail(f"{task.name} failed: {type(exc).__name__}: {exc}", EXIT_RUN)
    json.dump(payload, sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0
