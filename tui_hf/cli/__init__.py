"""Command line: `tui-hf` opens the app; `tui-hf run` scripts a task and prints JSON; `tui-hf score` prints a
text's per-token log-probabilities and perplexity.

Argument checks that need no model (task names, device names, paths) happen here, before anything heavy
is imported, so a typo costs a second, not the six it takes to import torch and transformers. Every error
the app expects is a `TuiHfError`; `main` turns it into one line and its class's exit code, in one place.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from tui_hf import __version__
from tui_hf.cli.report import error_line, fail
from tui_hf.core.device import DEVICE_CHOICES, DTYPE_CHOICES
from tui_hf.core.errors import (
    EXIT_RUN,
    TuiHfError,
)


class IntermixedParser(argparse.ArgumentParser):
    """Options and positionals in any order (`run TASK --model M "text" -s k=v "more"`).

    argparse's plain parsing ends a `nargs="*"` positional at the first option, leaving later texts
    "unrecognized"; parse_known_intermixed_args reads options first, then every positional. It calls
    parse_known_args itself on some Python versions, hence the guard.
    """

    _intermixing = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        # argparse cannot intermix around sub-commands of its own (`runs rm RUN`): those parse plainly.
        nested = any(a.nargs == argparse.PARSER for a in self._actions)
        if self._intermixing or nested:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def _add_model_options(p: argparse.ArgumentParser, sub: bool = False) -> None:
    # In a subcommand the defaults are suppressed, so `tui-hf --model M run ...` keeps the M given before it.
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if sub else value

    p.add_argument(
        "--model",
        "-m",
        default=default(None),
        help="hub id, local model directory, or 'embedded' (all-MiniLM-L6-v2, shipped). Default: the "
        "model Hugging Face uses for the task when cached or online, else the embedded one",
    )
    p.add_argument(
        "--device",
        default=default("auto"),
        choices=DEVICE_CHOICES,
        help="where the model runs; auto picks cuda, then mps, then cpu",
    )
    p.add_argument(
        "--dtype",
        default=default("auto"),
        choices=DTYPE_CHOICES,
        help="weights' dtype; auto is bfloat16 on GPUs that support it, float32 elsewhere",
    )
    p.add_argument(
        "--device-map",
        default=default(None),
        choices=("auto",),
        help="spread a model bigger than one device over the GPUs, then CPU memory (accelerate)",
    )
    p.add_argument(
        "--quantize",
        default=default(None),
        choices=("8bit", "4bit"),
        help="load the weights quantized with bitsandbytes (CUDA only): a quarter or an eighth of fp32's memory",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        default=default(False),
        help="never contact the Hugging Face Hub (also set by HF_HUB_OFFLINE=1)",
    )
    p.add_argument(
        "--trust-remote-code",
        action="store_true",
        default=default(False),
        help="allow a model's own Python code to run (off by default: only for sources you trust)",
    )
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        default=default(False),
        help="allow pickle (.bin) checkpoints, which can run code when loaded; safetensors otherwise",
    )


def port_number(text: str) -> int:
    """A TCP port, 1-65535 (a larger number would wrap around to another port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port: use 1-65535")
    return value


def build_parser(commands: bool = True) -> argparse.ArgumentParser:
    """`commands` False leaves out the sub-commands: `tui-hf` alone opens the app, and building their parsers
    (and importing the training families for `train --task`) would delay its first frame."""
    from tui_hf.core.tasks.registry import task_names

    parser = argparse.ArgumentParser(
        prog="tui-hf",
        description="Explore Hugging Face transformers in the terminal: live tokenization, tasks, finetuning.",
        epilog="Run `tui-hf run --help` to run a task without the UI, `tui-hf run TASK --help` for its settings. "
        "Exit codes: 0 ok, 2 bad arguments or input, 3 the model cannot be loaded or cannot serve the "
        "task, 4 the run failed.",
    )
    parser.add_argument("--version", action="version", version=f"tui-hf {__version__}")
    parser.add_argument(
        "--task",
        "-t",
        default="feature-extraction",
        metavar="TASK",
        help="task to open with: " + ", ".join(task_names()),
    )
    _add_model_options(parser)
    parser.add_argument(
        "--serve",
        action="store_true",
        help="serve the app to a web browser on localhost instead of this terminal (textual-serve)",
    )
    parser.add_argument("--port", type=port_number, default=8000, help="port for --serve (default 8000)")
    parser.add_argument(
        "--host",
        default=None,
        help="with --serve: the address to listen on (e.g. 0.0.0.0) so other machines can connect; "
        "default: localhost only",
    )
    if not commands:
        parser.set_defaults(command=None)
        return parser
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=IntermixedParser)
    run = sub.add_parser(
        "run",
        help="run a task and print the result as JSON",
        add_help=False,
        description="Run a task without the UI and print its result as JSON. Options and texts may come in any order.",
        epilog="`tui-hf run TASK --help` lists TASK's settings for -s.",
    )
    run.add_argument("-h", "--help", action="store_true", help="show this help (with TASK: its settings) and exit")
    run.add_argument("task", metavar="TASK", nargs="?", help="one of: " + ", ".join(task_names()))
    run.add_argument(
        "texts", nargs="*", metavar="TEXT", help="input texts (one input each); '-' or none reads stdin lines"
    )
    run.add_argument(
        "--set",
        "-s",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a task setting, e.g. -s top_k=3 or -s context='...'; unset ones take the model's own "
        "value where it has one",
    )
    run.add_argument(
        "--explain",
        action="store_true",
        help="also print the explicit PyTorch path (tensors, logits, softmax) where the task has one",
    )
    run.add_argument(
        "--code",
        action="store_true",
        help="print, instead of the JSON result, the Python that reproduces it: the pipeline call and "
        "the explicit path (tokenizer, model, forward pass, post-processing), with the settings "
        "you gave",
    )
    _add_model_options(run, sub=True)
    run.set_defaults(run_parser=run)
    save = sub.add_parser(
        "save",
        help="load a model for a task and save it (model, tokenizer, config) to a directory",
        description="Load MODEL with TASK's head and save it with save_pretrained (safetensors).",
    )
    save.add_argument("out", metavar="DIR", help="target directory (must be empty unless --overwrite)")
    save.add_argument("--task", "-t", default="feature-extraction", help="which head to load and save")
    save.add_argument("--overwrite", action="store_true", help="write into a directory that is not empty")
    _add_model_options(save, sub=True)
    score = sub.add_parser(
        "score",
        help="teacher-forced log-probabilities of texts and their perplexity, as JSON",
        description="Read each TEXT with a causal language model in one forward pass (teacher "
        "forcing): every token's log-probability given the tokens before it, its "
        "rank, and the perplexity exp(mean negative log-likelihood). Prints JSON.",
        epilog="The first token has nothing before it and is not scored; a tokenizer that adds "
        "a BOS token lets the first word be scored too.",
    )
    score.add_argument(
        "texts", nargs="*", metavar="TEXT", help="texts to score, each on its own; '-' or none reads stdin lines"
    )
    score.add_argument(
        "--top",
        type=int,
        default=0,
        metavar="K",
        help="also list each token's K most probable alternatives (default 0: none)",
    )
    _add_model_options(score, sub=True)
    from tui_hf.cli.training import add_training_commands

    add_training_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`tui-hf score ... | head`): not a failure of ours. Point stdout at /dev/null so
        # the interpreter's final flush does not raise again, and exit as a process killed by SIGPIPE would.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _main(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(commands=bool(argv))
    args = parser.parse_args(argv)
    try:
        return dispatch(args)
    except TuiHfError as exc:
        message = error_line(exc)
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, TuiHfError):  # another library failed: keep its traceback
            from tui_hf.core.quiet import log_failure

            message += f" (traceback in {log_failure(message, exc)})"
        return fail(message, exc.exit_code)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise  # main() handles it: a closed pipe is not a bug
    except Exception as exc:  # a bug: one line here, the traceback in the log file
        from tui_hf.core.quiet import log_failure

        first = (str(exc).strip().splitlines() or [""])[0]
        path = log_failure(f"unexpected {type(exc).__name__}", exc)
        return fail(f"unexpected {type(exc).__name__}: {first} (a bug; the traceback is in {path})", EXIT_RUN)


def dispatch(args: argparse.Namespace) -> int:
    from tui_hf.core.hub import parse_ref
    from tui_hf.core.tasks.registry import get_task

    if args.command is not None:
        from tui_hf.cli.training import TRAINING_COMMANDS

        if args.command in TRAINING_COMMANDS:
            return TRAINING_COMMANDS[args.command](args)
    if args.command == "run":
        from tui_hf.cli.inference import run_command, run_help

        if args.help:
            print(run_help(args.run_parser, args.task))
            return 0
        if args.task is None:
            args.run_parser.error("the following arguments are required: TASK")
    if args.command == "score":
        args.task = "text-generation"  # the head a causal model is loaded with
    task = get_task(args.task)
    parse_ref(args.model)
    if args.command == "score":
        from tui_hf.cli.inference import score_command

        return score_command(args, task)
    if args.command == "run":
        return run_command(args, task)
    if args.command == "save":
        from tui_hf.cli.inference import save_command

        return save_command(args, task)
    return launch_app(args, task.name)


def launch_app(args: argparse.Namespace, task: str) -> int:
    if args.serve:
        from tui_hf.cli.serve import serve

        return serve(args, task)
    import gc

    # Python's cycle collector runs ~160 times while the UI imports and the first screen mounts (a full
    # collection among them) and finds next to nothing: ~30 ms of the first frame. The app turns it back on
    # once that frame is painted (TuiHfApp.on_mount).
    gc.disable()
    from tui_hf.ui.app import AppSettings, make_app

    settings = AppSettings(
        task=task,
        model=args.model,
        device=args.device,
        dtype=args.dtype,
        device_map=getattr(args, "device_map", None),
        quantize=getattr(args, "quantize", None),
        offline=args.offline,
        trust_remote_code=args.trust_remote_code,
        allow_pickle=args.allow_pickle,
    )
    app = make_app(settings)
    app.run()
    return app.return_code or 0
