"""Training commands: train, runs, attach, stop, resume, export."""

from __future__ import annotations

import argparse
from typing import Any

from tui_hf.core.device import DEVICE_CHOICES
from tui_hf.core.errors import EXIT_USAGE


def add_training_commands(sub: Any) -> None:
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


def build_spec(args: argparse.Namespace) -> Any:
    from tui_hf.core.errors import SpecError
    from tui_hf.core.training.spec import DataSpec, TrainSpec
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
    from tui_hf.cli import fail
    from tui_hf.core.training.job import resolve_run, stop

    run_dir = resolve_run(args.run, args.runs_dir)
    if not stop(run_dir):
        return fail(f"{run_dir} is not running", EXIT_USAGE)
    print(f"asked {run_dir} to stop; it saves a checkpoint first")
    return 0


def resume_command(args: argparse.Namespace) -> int:
    from tui_hf.cli import fail
    from tui_hf.core.training.job import launch, resolve_run, run_foreground, run_info

    run_dir = resolve_run(args.run, args.runs_dir)
    info = run_info(run_dir)
    if info.status in ("running", "starting", "stopping"):
        return fail(f"{run_dir} is still {info.status}", EXIT_USAGE)
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
