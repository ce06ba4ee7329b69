"""`tui-hf run` (a task, printed as JSON) and `tui-hf save` (a model with its task head)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tui_hf.cli import fail
from tui_hf.core.errors import EXIT_LOAD, EXIT_RUN, EXIT_USAGE


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
    from tui_hf.core.errors import ModelLoadError, TaskInputError
    from tui_hf.core.hub import default_reference, parse_ref, resolve
    from tui_hf.core.models import load
    from tui_hf.core.quiet import route_library_logs
    from tui_hf.core.tasks.common import to_jsonable

    texts = [t for t in args.texts if t != "-"]
    if not texts:
        if sys.stdin is None or sys.stdin.isatty():
            return fail("no input: pass texts as arguments or pipe them on stdin", EXIT_USAGE)
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    try:
        options = {**task.defaults(), **parse_settings(args.set, {f.name: f for f in task.fields})}
    except ValueError as exc:
        return fail(str(exc), EXIT_USAGE)
    route_library_logs()
    try:
        reference = args.model or default_reference(task, args.offline)
        loaded = load(resolve(parse_ref(reference), offline=args.offline), task, args.device, args.dtype,
                      trust_remote_code=args.trust_remote_code, allow_pickle=args.allow_pickle)
    except ModelLoadError as exc:
        return fail(str(exc), EXIT_LOAD)
    except ValueError as exc:  # DeviceError
        return fail(str(exc), EXIT_USAGE)
    for warning in loaded.info.warnings:
        print(f"tui-hf: warning: {warning}", file=sys.stderr)
    try:
        result = task.load_runner()(loaded, texts, options, None, explain=args.explain)
        explanation = getattr(result, "explanation", None)
        if explanation is not None:
            result.explanation = None  # printed once, under "explain"
        payload: dict[str, Any] = {"task": task.name, "model": loaded.info.title, "device": loaded.info.device,
                                   "result": to_jsonable(result)}
        if explanation is not None:
            payload["explain"] = to_jsonable(explanation)
    except TaskInputError as exc:
        return fail(str(exc), EXIT_USAGE)
    except Exception as exc:  # a model that fails mid-run: say what failed, no traceback on the terminal
        return fail(f"{task.name} failed: {type(exc).__name__}: {exc}", EXIT_RUN)
    json.dump(payload, sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0


def save_command(args: argparse.Namespace, task: Any) -> int:
    from tui_hf.core.errors import ModelLoadError
    from tui_hf.core.hub import default_reference, parse_ref, resolve
    from tui_hf.core.models import load, save
    from tui_hf.core.quiet import route_library_logs

    route_library_logs()
    try:
        reference = args.model or default_reference(task, args.offline)
        loaded = load(resolve(parse_ref(reference), offline=args.offline), task, "cpu", args.dtype,
                      trust_remote_code=args.trust_remote_code, allow_pickle=args.allow_pickle)
        out = save(loaded, args.out, overwrite=args.overwrite)
    except ModelLoadError as exc:
        return fail(str(exc), EXIT_LOAD)
    print(f"saved {loaded.info.architecture} ({loaded.info.parameters_text} params) and its tokenizer to {out}")
    return 0
