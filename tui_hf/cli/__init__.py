"""Command line: `tui-hf` opens the app; `tui-hf run` scripts a task and prints JSON.

Argument checks that need no model (task names, device names, paths) happen here, before anything heavy
is imported, so a typo costs a second, not the six it takes to import torch and transformers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tui_hf import __version__
from tui_hf.cli.training import add_training_commands
from tui_hf.core.device import DEVICE_CHOICES, DTYPE_CHOICES
from tui_hf.core.errors import EXIT_USAGE


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
    parser.add_argument("--host", default=None,
                        help="with --serve: the address to listen on (e.g. 0.0.0.0) so other machines can connect; "
                             "default: localhost only")
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
    add_training_commands(sub)
    return parser


def fail(message: str, code: int) -> int:
    print(f"tui-hf: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from tui_hf.cli.training import TRAINING_COMMANDS
    from tui_hf.core.errors import ModelLoadError, SpecError, UnknownTaskError
    from tui_hf.core.hub import parse_ref
    from tui_hf.core.tasks.registry import get_task

    if args.command in TRAINING_COMMANDS:
        try:
            return TRAINING_COMMANDS[args.command](args)
        except SpecError as exc:
            return fail(str(exc), EXIT_USAGE)
    try:
        task = get_task(args.task)
        parse_ref(args.model)
    except (UnknownTaskError, ModelLoadError) as exc:
        return fail(str(exc), EXIT_USAGE)
    if args.command == "run":
        from tui_hf.cli.inference import run_command

        return run_command(args, task)
    if args.command == "save":
        from tui_hf.cli.inference import save_command

        return save_command(args, task)
    return launch_app(args, task.name)


def launch_app(args: argparse.Namespace, task: str) -> int:
    from tui_hf.ui.app import AppSettings, make_app

    if args.serve:
        from tui_hf.cli.serve import serve

        return serve(args, task)
    settings = AppSettings(task=task, model=args.model, device=args.device, dtype=args.dtype,
                           offline=args.offline, trust_remote_code=args.trust_remote_code,
                           allow_pickle=args.allow_pickle)
    app = make_app(settings)
    app.run()
    return app.return_code or 0


