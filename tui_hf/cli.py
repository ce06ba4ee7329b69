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
                   help="hub id, local model directory, or 'embedded' (all-MiniLM-L6-v2, shipped). Default: the "
                        "model Hugging Face uses for the task when cached or online, else the embedded one")
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
    parser.add_argument("--serve", action="store_true",
                        help="serve the app to a web browser on localhost instead of this terminal (textual-serve)")
    parser.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000)")
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
    save = sub.add_parser("save", help="load a model for a task and save it (model, tokenizer, config) to a directory",
                          description="Load MODEL with TASK's head and save it with save_pretrained (safetensors).")
    save.add_argument("out", metavar="DIR", help="target directory (must be empty unless --overwrite)")
    save.add_argument("--task", "-t", default="feature-extraction", help="which head to load and save")
    save.add_argument("--overwrite", action="store_true", help="write into a directory that is not empty")
    _add_model_options(save)
    _add_training_commands(sub)
    return parser


def _add_training_commands(sub: Any) -> None:
    train = sub.add_parser("train", help="finetune a model (a job that survives the terminal)",
                           description="Finetune a model. A SPEC.json gives every setting; the options below "
                                       "build or override one. Runs in the foreground with plain progress "
                                       "lines unless --detach.")
    train.add_argument("spec", nargs="?", metavar="SPEC.json", help="a spec file (see README)")
    train.add_argument("--data", help="train data: .csv, .json or .jsonl file, or a hub dataset id "
                                      "('sentiment' is the dataset shipped with tui-hf)")
    train.add_argument("--validation", help="validation data file (default: split off the train data)")
    train.add_argument("--model", "-m", help="model to finetune (default: embedded)")
    train.add_argument("--task", choices=("text-classification", "token-classification", "causal-lm"))
    train.add_argument("--engine", choices=("trainer", "native"), help="Trainer + TrainingArguments, or a native "
                                                                       "PyTorch loop")
    train.add_argument("--text-column")
    train.add_argument("--label-column")
    train.add_argument("--epochs", type=float)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float, dest="learning_rate")
    train.add_argument("--max-length", type=int)
    train.add_argument("--max-steps", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--device", choices=DEVICE_CHOICES)
    train.add_argument("--replace-head", action="store_true", default=None,
                       help="replace a trained head whose labels differ from the data's")
    train.add_argument("--name", help="run directory name (default: time-model-engine)")
    train.add_argument("--runs-dir", help="where runs live (default: ./runs, or $TUI_HF_RUNS)")
    train.add_argument("--nproc", type=int, default=1, help="processes (GPUs) to train on, via torch.distributed")
    train.add_argument("--detach", action="store_true", help="start in the background and return at once")
    for name, text in (("runs", "list runs with status and best metric"),):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--runs-dir")
    for name, text in (("attach", "show a run's live training view (any terminal, over SSH too)"),
                       ("stop", "stop a run gracefully (it saves a checkpoint)"),
                       ("resume", "continue a stopped or crashed run from its last checkpoint"),
                       ("export", "write a run's metrics as CSV")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("run", metavar="RUN", help="run directory, or its name under the runs directory")
        p.add_argument("--runs-dir")
        if name == "resume":
            p.add_argument("--detach", action="store_true")
            p.add_argument("--nproc", type=int, default=1)
        if name == "export":
            p.add_argument("out", nargs="?", help="CSV file (default: RUN/metrics.csv)")


def _fail(message: str, code: int) -> int:
    print(f"tui-hf: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from tui_hf.core.models import ModelLoadError, parse_ref
    from tui_hf.core.tasks.registry import UnknownTaskError, get_task

    if args.command in TRAINING_COMMANDS:
        from tui_hf.core.training.spec import SpecError

        try:
            return TRAINING_COMMANDS[args.command](args)
        except SpecError as exc:
            return _fail(str(exc), EXIT_USAGE)
    try:
        task = get_task(args.task)
        parse_ref(args.model)
    except (UnknownTaskError, ModelLoadError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    if args.command == "run":
        return run_command(args, task)
    if args.command == "save":
        return save_command(args, task)
    return launch_app(args, task.name)


def save_command(args: argparse.Namespace, task: Any) -> int:
    from tui_hf.core.models import ModelLoadError, default_reference, load, parse_ref, resolve, save
    from tui_hf.core.quiet import route_library_logs

    route_library_logs()
    try:
        reference = args.model or default_reference(task, args.offline)
        loaded = load(resolve(parse_ref(reference), offline=args.offline), task, "cpu", args.dtype,
                      trust_remote_code=args.trust_remote_code, allow_pickle=args.allow_pickle)
        out = save(loaded, args.out, overwrite=args.overwrite)
    except ModelLoadError as exc:
        return _fail(str(exc), EXIT_LOAD)
    print(f"saved {loaded.info.architecture} ({loaded.info.parameters_text} params) and its tokenizer to {out}")
    return 0


def serve(args: argparse.Namespace, task: str) -> int:
    """Each browser tab gets its own app process, started by textual-serve."""
    import shlex

    try:
        from textual_serve.server import Server
    except ImportError:
        return _fail("--serve needs textual-serve: pip install 'tui-hf[serve]'", EXIT_USAGE)
    argv = [sys.executable, "-m", "tui_hf", "--task", task, "--device", args.device, "--dtype", args.dtype]
    if args.model:
        argv += ["--model", args.model]
    argv += [flag for flag, on in (("--offline", args.offline), ("--trust-remote-code", args.trust_remote_code),
                                   ("--allow-pickle", args.allow_pickle)) if on]
    # textual-serve takes one command line and runs it through a shell: every argument is quoted.
    Server(shlex.join(argv), host="localhost", port=args.port, title="tui-hf").serve()
    return 0


def launch_app(args: argparse.Namespace, task: str) -> int:
    from tui_hf.ui.app import AppSettings, make_app

    if args.serve:
        return serve(args, task)
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
    from tui_hf.core.models import ModelLoadError, default_reference, load, parse_ref, resolve
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
        reference = args.model or default_reference(task, args.offline)
        loaded = load(resolve(parse_ref(reference), offline=args.offline), task, args.device, args.dtype,
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


# -- training ---------------------------------------------------------------------------------------------


def build_spec(args: argparse.Namespace) -> Any:
    from tui_hf.core.training.spec import DataSpec, SpecError, TrainSpec
    from tui_hf.data import SENTIMENT_CSV

    if args.spec:
        spec = TrainSpec.load(args.spec)
    elif args.data:
        spec = TrainSpec(data=DataSpec(train=args.data))
    else:
        raise SpecError("give a SPEC.json or --data FILE (try --data sentiment, the dataset shipped with tui-hf)")
    if args.data:
        spec.data.train = args.data
    if spec.data.train == "sentiment":
        spec.data.train = str(SENTIMENT_CSV)
    for key in ("validation", "text_column", "label_column", "max_length"):
        if getattr(args, key) is not None:
            setattr(spec.data, key, getattr(args, key))
    for key in ("model", "task", "engine", "epochs", "batch_size", "learning_rate", "max_steps", "seed", "device",
                "replace_head"):
        if getattr(args, key) is not None:
            setattr(spec, key, getattr(args, key))
    return spec


def train_command(args: argparse.Namespace) -> int:
    from tui_hf.core.training.job import create_run, launch, run_foreground

    spec = build_spec(args)
    run_dir = create_run(spec, args.runs_dir, args.name)
    if args.detach:
        pid = launch(run_dir, args.nproc)
        print(f"started {run_dir} (pid {pid}); follow it with: tui-hf attach {run_dir}")
        return 0
    print(f"run {run_dir}", flush=True)
    return run_foreground(run_dir, args.nproc)


def runs_command(args: argparse.Namespace) -> int:
    from tui_hf.core.training.job import list_runs, runs_root

    runs = list_runs(args.runs_dir)
    if not runs:
        print(f"no runs in {runs_root(args.runs_dir)}")
        return 0
    print(f"{'run':<44} {'status':<9} {'step':>11} {'loss':>7} {'best':>16}")
    for r in runs:
        s = r.state
        best = s.best()
        loss = f"{s.train[-1][1]:.4f}" if s.train else "-"
        steps = f"{s.step}/{s.total_steps}" if s.total_steps else "-"
        print(f"{r.path.name:<44} {r.status:<9} {steps:>11} {loss:>7} "
              f"{(f'{best[0]} {best[1]:.4f}' if best else '-'):>16}")
    return 0


def attach_command(args: argparse.Namespace) -> int:
    from tui_hf.core.training.job import resolve_run
    from tui_hf.ui.attach import AttachApp

    app = AttachApp(resolve_run(args.run, args.runs_dir))
    app.run()
    return app.return_code or 0


def stop_command(args: argparse.Namespace) -> int:
    from tui_hf.core.training.job import resolve_run, stop

    run_dir = resolve_run(args.run, args.runs_dir)
    if not stop(run_dir):
        return _fail(f"{run_dir} is not running", EXIT_USAGE)
    print(f"asked {run_dir} to stop; it saves a checkpoint first")
    return 0


def resume_command(args: argparse.Namespace) -> int:
    from tui_hf.core.training.job import launch, resolve_run, run_foreground, run_info

    run_dir = resolve_run(args.run, args.runs_dir)
    info = run_info(run_dir)
    if info.status in ("running", "starting", "stopping"):
        return _fail(f"{run_dir} is still {info.status}", EXIT_USAGE)
    if args.detach:
        print(f"resumed {run_dir} (pid {launch(run_dir, args.nproc)})")
        return 0
    return run_foreground(run_dir, args.nproc)


def export_command(args: argparse.Namespace) -> int:
    from tui_hf.core.training.events import to_csv
    from tui_hf.core.training.job import resolve_run

    run_dir = resolve_run(args.run, args.runs_dir)
    out = args.out or str(run_dir / "metrics.csv")
    print(f"wrote {to_csv(run_dir, out)} rows to {out}")
    return 0


TRAINING_COMMANDS = {"train": train_command, "runs": runs_command, "attach": attach_command, "stop": stop_command,
                     "resume": resume_command, "export": export_command}
