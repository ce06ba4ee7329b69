"""`tui-hf run` (a task, printed as JSON, or with --code as the Python that reproduces it), `tui-hf score` (a text's log-probabilities) and `tui-hf save` (a model
with its task head)."""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
from typing import Any

from tui_hf.core.errors import RunError, TaskInputError, TuiHfError

_KIND_METAVAR = {"text": "TEXT", "int": "INT", "float": "NUMBER", "bool": "true|false"}


def setting_help(task: Any) -> str:
    """TASK's settings for `-s NAME=VALUE`, from the registry's fields: type, default, choices, help."""
    if not task.fields:
        return f"{task.name} takes no settings."
    lines = [f"settings of {task.name} (-s NAME=VALUE):"]
    for f in task.fields:
        value = "{" + ",".join(f.choices) + "}" if f.choices else _KIND_METAVAR.get(f.kind, f.kind.upper())
        if f.default is None:
            default = "the model's own"
        elif f.default == "":
            default = "empty"
        elif isinstance(f.default, bool):
            default = str(f.default).lower()
        else:
            default = repr(f.default) if isinstance(f.default, str) else str(f.default)
        text = f"{f.help or f.label} (default: {default})"
        head = f"  {f.name}={value}"
        body = textwrap.wrap(text, 110 - 28) or [""]
        if len(head) <= 26:
            lines.append(f"{head:<28}{body[0]}")
        else:
            lines.append(head)
            lines.append(" " * 28 + body[0])
        lines += [" " * 28 + more for more in body[1:]]
    return "\n".join(lines)


def run_help(parser: argparse.ArgumentParser, task_name: str | None) -> str:
    from tui_hf.core.tasks.registry import get_task

    text = parser.format_help()
    if task_name is None:
        return text
    task = get_task(task_name)
    return f"{text}\n{task.title}: {task.summary}\n{setting_help(task)}"


def parse_settings(pairs: list[str], task: Any) -> dict[str, Any]:
    """Turn NAME=VALUE pairs into typed task options, by the task's declared fields. Only what the user set is
    returned: the runner fills the rest with the model's own values."""
    from tui_hf.core.tasks.forms import coerce

    fields = {f.name: f for f in task.fields}
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise TaskInputError(f"-s takes NAME=VALUE, got {pair!r}")
        if name not in fields:
            raise TaskInputError(
                f"unknown setting {name!r} for {task.name}; it takes: {', '.join(fields) or 'none'} "
                f"(tui-hf run {task.name} --help)"
            )
        try:
            out[name] = coerce(fields[name], value)
        except TaskInputError as exc:
            raise TaskInputError(f"-s {pair}: {exc}") from None
    return out


def read_texts(texts: list[str]) -> list[str]:
    given = [t for t in texts if t != "-"]
    if given:
        return given
    if sys.stdin is None or sys.stdin.isatty():
        raise TaskInputError("no input: pass texts as arguments or pipe them on stdin")
    texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:  # `tui-hf score < empty.txt` is a mistake, not a result with nothing in it
        raise TaskInputError("no input: stdin had no text (pass texts as arguments or pipe them, one per line)")
    return texts


def load_for(args: argparse.Namespace, task: Any, device: str) -> Any:
    from tui_hf.core.hub import default_reference, parse_ref, resolve
    from tui_hf.core.models import load
    from tui_hf.core.quiet import route_library_logs

    route_library_logs()
    reference = args.model or default_reference(task, args.offline)
    resolved = resolve(parse_ref(reference), offline=args.offline)
    device_map, quantize = getattr(args, "device_map", None), getattr(args, "quantize", None)
    from tui_hf.core.device import pick_device
    from tui_hf.core.models import check_quantize, memory_plan

    target = pick_device(device, args.dtype)
    check_quantize(quantize, target.device)
    estimate = memory_plan(resolved, task, "auto" if device_map else target.device, quantize or target.dtype)
    if estimate is not None and estimate.warning():  # said before the weights are read, not as a crash
        print(f"tui-hf: warning: {estimate.warning()}", file=sys.stderr)
    return load(
        resolved,
        task,
        device,
        args.dtype,
        trust_remote_code=args.trust_remote_code,
        allow_pickle=args.allow_pickle,
        device_map=device_map,
        quantize=quantize,
    )


def run_command(args: argparse.Namespace, task: Any) -> int:
    from tui_hf.core.tasks.common import to_jsonable

    texts = read_texts(args.texts)
    options = parse_settings(args.set, task)
    loaded = load_for(args, task, args.device)
    for warning in loaded.info.warnings:
        print(f"tui-hf: warning: {warning}", file=sys.stderr)
    try:
        result = task.load_runner()(loaded, texts, options, None, explain=args.explain)
    except TuiHfError:
        raise
    except Exception as exc:  # inside the model or the runner: the traceback goes to the log, one line here
        first = (str(exc).strip().splitlines() or [""])[0]
        raise RunError(f"{task.name} failed: {type(exc).__name__}: {first}") from exc
    if args.code:  # the run first: the code is that of a run that worked, with the model's own values
        from tui_hf.core.tasks.code import code_for

        print(code_for(task, loaded, texts, options, trust_remote_code=args.trust_remote_code).text(), end="")
        return 0
    explanation = getattr(result, "explanation", None)
    if explanation is not None:
        result.explanation = None  # printed once, under "explain"
    payload: dict[str, Any] = {
        "task": task.name,
        "model": loaded.info.title,
        "device": loaded.info.device,
        "result": to_jsonable(result),
    }
    if loaded.info.placement:  # --device-map / --quantize: where the layers went, and their memory
        payload["placement"] = loaded.info.placement
        payload["memory_mb"] = loaded.info.memory_mb
    if explanation is not None:
        payload["explain"] = to_jsonable(explanation)
    json.dump(payload, sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0


def save_command(args: argparse.Namespace, task: Any) -> int:
    from tui_hf.core.models import save

    loaded = load_for(args, task, "cpu")
    out = save(loaded, args.out, overwrite=args.overwrite)
    print(f"saved {loaded.info.architecture} ({loaded.info.parameters_text} params) and its tokenizer to {out}")
    return 0


def score_command(args: argparse.Namespace, task: Any) -> int:
    """Each text scored on its own (core/generation/scoring.py), printed as one JSON object."""
    from tui_hf.core.generation.scoring import score_text

    if args.top < 0:
        raise TaskInputError(f"--top takes a count of 0 or more, got {args.top}")
    texts = read_texts(args.texts)
    loaded = load_for(args, task, args.device)
    for warning in loaded.info.warnings:
        print(f"tui-hf: warning: {warning}", file=sys.stderr)
    results = []
    for text in texts:
        try:
            scored = score_text(loaded, text, top=max(args.top, 1))
        except TuiHfError:
            raise
        except Exception as exc:  # inside the model: the traceback goes to the log, one line here
            first = (str(exc).strip().splitlines() or [""])[0]
            raise RunError(f"scoring failed: {type(exc).__name__}: {first}") from exc
        results.append(score_payload(scored, args.top))
    payload = {"model": loaded.info.title, "device": loaded.info.device, "results": results}
    json.dump(payload, sys.stdout, indent=2, ensure_ascii=False)
    print()
    return 0


def score_payload(scored: Any, top: int) -> dict[str, Any]:
    """One scored text for people and scripts: the totals, then every token (the first has no log-probability:
    nothing comes before it)."""
    tokens = []
    for t in scored.trace.current.tokens:
        entry: dict[str, Any] = {
            "token": t.token,
            "id": t.id,
            "text": t.text,
            "logprob": None if t.logprob is None else round(t.logprob, 6),
            "rank": t.rank if t.probability is not None else None,
        }
        if top and t.probability is not None:
            entry["top"] = [
                {
                    "token": a.token,
                    "id": a.id,
                    "logprob": round(math.log(a.probability), 6) if a.probability > 0 else None,
                }
                for a in t.top[:top]
            ]
        tokens.append(entry)
    return {
        "text": scored.text,
        "tokens_scored": scored.tokens,
        "perplexity": round(scored.perplexity, 6),
        "mean_nll": round(scored.nll, 6),
        "total_logprob": round(scored.total_logprob, 6),
        "tokens": tokens,
        "warnings": scored.warnings,
    }
