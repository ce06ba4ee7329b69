"""Training commands: train, runs (runs rm, runs --diff), attach (--once), stop, control, batch, resume, export
(metrics as CSV, or --script: the run as a standalone training script).

Every command answers a problem in one line (exit 2 for bad input or a run in the wrong state, 4 when the
run directory cannot be written); the flags that would allow a refused setting are named here, since the
core's messages name spec keys.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import Any

from tui_hf.core.device import DEVICE_CHOICES
from tui_hf.core.training.families import FAMILIES

TRAIN_TASKS = tuple(FAMILIES)


def add_training_commands(sub: Any) -> None:
    train = sub.add_parser(
        "train",
        help="finetune a model (a job that survives the terminal)",
        description="Finetune a model. A SPEC.json gives every setting; the options below "
        "build or override one. Runs in the foreground with plain progress "
        "lines unless --detach.",
    )
    train.add_argument("spec", nargs="?", metavar="SPEC.json", help="a spec file (see README)")
    train.add_argument(
        "--data",
        help="train data: .csv, .json or .jsonl file, or a hub dataset id "
        "('sentiment', 'paraphrase', 'entities', 'headlines' and 'qa-people' are shipped with tui-hf)",
    )
    train.add_argument(
        "--data-config",
        dest="hub_config",
        help="a hub dataset's configuration, as load_dataset(DATA, CONFIG): --data glue --data-config mrpc",
    )
    train.add_argument(
        "--data-split",
        dest="hub_split",
        help="the split of a hub or saved dataset to train on (default: train; its validation split validates)",
    )
    train.add_argument("--validation", help="validation data file (default: split off the train data)")
    train.add_argument("--model", "-m", help="model to finetune (default: embedded)")
    train.add_argument("--task", choices=TRAIN_TASKS)
    train.add_argument(
        "--engine", choices=("trainer", "native"), help="Trainer + TrainingArguments, or a native PyTorch loop"
    )
    train.add_argument("--text-column")
    train.add_argument(
        "--text-pair-column",
        help="text-classification of sentence pairs: the second text's "
        "column (e.g. sentence2, with --text-column sentence1)",
    )
    train.add_argument("--label-column")
    train.add_argument(
        "--label-all-tokens",
        action="store_true",
        default=None,
        help="token-classification: every sub-token of a word trains on its tag (B- becomes I- after the first)",
    )
    train.add_argument(
        "--whole-word-masking",
        action="store_true",
        default=None,
        help="masked-lm: mask whole words (all their sub-tokens together)",
    )
    train.add_argument(
        "--target-column", help="seq2seq: the column the model learns to write (default target; sources: --text-column)"
    )
    train.add_argument("--source-lang", help="seq2seq translation: the source language code, as the model spells it")
    train.add_argument("--target-lang", help="seq2seq translation: the target language code (fr_XX, fra_Latn, fr...)")
    train.add_argument(
        "--source-prefix", help='seq2seq: put before each source (e.g. "summarize: "; default: the model\'s own)'
    )
    train.add_argument("--question-column", help="question-answering: the question's column (default: question)")
    train.add_argument("--context-column", help="question-answering: the passage's column (default: context)")
    train.add_argument(
        "--answers-column",
        help='question-answering: SQuAD answers {"text": [...], "answer_start": [...]} (default: answers)',
    )
    train.add_argument(
        "--doc-stride", type=int, help="question-answering: tokens shared by the windows of a long context"
    )
    train.add_argument("--epochs", type=float)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float, dest="learning_rate")
    train.add_argument("--max-length", type=int)
    train.add_argument("--max-steps", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--device", choices=DEVICE_CHOICES)
    train.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16", "fp16"),
        help="mixed precision: auto is bf16 on a GPU that has it, fp32 otherwise (fp16 needs CUDA)",
    )
    train.add_argument(
        "--grad-accum", type=int, metavar="N", help="micro-batches per optimizer step (effective batch: batch × N)"
    )
    train.add_argument(
        "--grad-checkpointing",
        action="store_true",
        default=None,
        help="recompute activations in the backward pass: less memory, about a third more time",
    )
    train.add_argument(
        "--dry-run",
        action="store_true",
        help="check everything a start checks and print rows, steps, parameters and a memory estimate; create nothing",
    )
    train.add_argument(
        "--replace-head",
        action="store_true",
        default=None,
        help="replace a trained head whose labels differ from the data's",
    )
    train.add_argument(
        "--trust-remote-code",
        action="store_true",
        default=None,
        help="allow a model that needs its own Python code (only for sources you trust)",
    )
    train.add_argument(
        "--allow-pickle",
        action="store_true",
        default=None,
        help="allow a model with only pickle weights (pytorch_model.bin), which can run code",
    )
    train.add_argument("--offline", action="store_true", default=None, help="never contact the Hugging Face Hub")
    train.add_argument(
        "--lora",
        action="store_true",
        default=None,
        help="train LoRA adapters (peft) instead of every weight; the spec's lora object sets r, alpha, "
        "dropout, target_modules",
    )
    train.add_argument("--qlora", action="store_true", default=None, help="LoRA on a 4-bit base model (CUDA only)")
    train.add_argument("--name", help="run directory name: letters, digits, '.', '_', '-' (default: time-model-engine)")
    train.add_argument("--runs-dir", help="where runs live (default: $TUI_HF_RUNS if set, else ./runs)")
    train.add_argument("--nproc", type=int, default=1, help="processes (GPUs) to train on, via torch.distributed")
    train.add_argument("--detach", action="store_true", help="start in the background and return at once")
    train.add_argument(
        "--nnodes",
        type=int,
        default=1,
        help="machines the job runs on (torchrun's c10d rendezvous; same command on each)",
    )
    train.add_argument(
        "--node-rank", type=int, help="this machine's place: 0 on the one that holds the run, 1..NNODES-1 elsewhere"
    )
    train.add_argument(
        "--rdzv", metavar="HOST:PORT", help="the rendezvous every machine meets at (node rank 0's address)"
    )
    runs = sub.add_parser(
        "runs",
        help="list runs with status and best metric; `runs rm RUN` deletes one",
        description="List runs with status, step, loss and best metric.",
    )
    runs.add_argument("--runs-dir", help="where runs live (default: $TUI_HF_RUNS if set, else ./runs)")
    runs.add_argument(
        "--diff",
        nargs="+",
        metavar="RUN",
        help="compare two or more runs: spec differences, best and final metrics, losses side by side",
    )
    runs.add_argument(
        "--by", choices=("step", "epoch", "samples"), default="step", help="the axis runs are aligned on with --diff"
    )
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="rm")
    rm = runs_sub.add_parser(
        "rm",
        help="delete a run (refused while the run is alive)",
        description="Delete a run that tui-hf made, inside the runs directory; refused while "
        "its job runs, and for any other directory (it says what it would have "
        "deleted).",
    )
    _add_run_argument(rm, runs_dir_dest="rm_runs_dir")
    for name, text in (
        ("attach", "show a run's live training view (any terminal, over SSH too)"),
        ("stop", "stop a run gracefully (it saves a checkpoint)"),
        ("resume", "continue a stopped or crashed run from its last checkpoint"),
        ("export", "write a run's metrics as CSV, or with --script the run as a training script"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        _add_run_argument(p)
        if name == "resume":
            p.add_argument("--detach", action="store_true")
            p.add_argument("--nproc", type=int, default=1)
            p.add_argument(
                "--data-changed",
                action="store_true",
                help="go on although the data changed since the run started (resume refuses otherwise): "
                "the rows it validated on stay validation rows, and an alert records it",
            )
        if name == "export":
            p.add_argument("out", nargs="?", help="CSV file (default: RUN/metrics.csv)")
            p.add_argument(
                "--overwrite", action="store_true", help="replace OUT if it exists (never a run's own files)"
            )
            p.add_argument(
                "--script",
                metavar="FILE",
                help="write instead a standalone Python script that trains as "
                "the run did (its spec: data, tokenization, collator, "
                "model, metrics, Trainer or the native loop, seed), "
                "without tui-hf",
            )
            p.add_argument(
                "--merge",
                metavar="DIR",
                help="write instead the final model of a LoRA run with its adapters merged into the base "
                "weights: a plain model in a new directory DIR",
            )
        if name == "attach":
            p.add_argument(
                "--once",
                action="store_true",
                help="print a text snapshot (status, loss sparkline, alerts) and exit: for scripts and slow links",
            )
    control = sub.add_parser(
        "control",
        help="steer a running job: save, eval, stop, early-stop, no-early-stop",
        description="Ask a running job to act at its next step boundary: save a checkpoint "
        "now, evaluate now, stop (with a checkpoint), arm early stopping "
        "(--metric, --patience) or disarm it. The job acknowledges each request "
        "in its events.",
    )
    _add_run_argument(control)
    control.add_argument("action", choices=("save", "eval", "stop", "early-stop", "no-early-stop"))
    control.add_argument(
        "--metric", default="eval_loss", help="early-stop: the eval metric to watch (default eval_loss)"
    )
    # Checked by control.check_patience, as a request file's is (argparse's int would differ from it).
    control.add_argument(
        "--patience", default="3", help="early-stop: evaluations without improvement (a whole number, 1 or more)"
    )
    control.add_argument(
        "--wait", type=float, default=30.0, help="seconds to wait for the acknowledgement (0: do not wait)"
    )
    batch = sub.add_parser(
        "batch",
        help="X-ray the batch a run trained at a step",
        description="Rebuild the batch a run trained at STEP (from the data, tokenizer and "
        "collator) and print each row's tokens, what the loss trained on, padding, "
        "labels and the row's line in the data file; checks the rebuild against "
        "the hash recorded while training.",
    )
    _add_run_argument(batch)
    batch.add_argument("step", type=int, metavar="STEP")


def _add_run_argument(p: argparse.ArgumentParser, runs_dir_dest: str = "runs_dir") -> None:
    """RUN, as every command on one run takes it, and where its name is looked up."""
    p.add_argument(
        "run",
        metavar="RUN",
        help="a run's name (looked up in the runs directory only), or its path (with a '/', or starting with '.')",
    )
    p.add_argument(
        "--runs-dir",
        dest=runs_dir_dest,
        help="where run names are looked up (default: $TUI_HF_RUNS if set, else ./runs)",
    )


def build_spec(args: argparse.Namespace) -> Any:
    from tui_hf.core.errors import SpecError
    from tui_hf.core.training.spec import DataSpec, TrainSpec
    from tui_hf.data import ENTITIES_JSONL, HEADLINES_JSONL, PARAPHRASE_CSV, QA_JSONL, SENTIMENT_CSV

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
    elif spec.data.train == "paraphrase":
        spec.data.train = str(PARAPHRASE_CSV)
    elif spec.data.train == "headlines":
        spec.data.train = str(HEADLINES_JSONL)
    elif spec.data.train == "entities":
        spec.data.train = str(ENTITIES_JSONL)
    elif spec.data.train == "qa-people":
        spec.data.train = str(QA_JSONL)
    for key in (
        "validation",
        "text_column",
        "text_pair_column",
        "label_column",
        "max_length",
        "hub_config",
        "hub_split",
        "label_all_tokens",
        "whole_word_masking",
        "target_column",
        "source_lang",
        "target_lang",
        "source_prefix",
        "question_column",
        "context_column",
        "answers_column",
        "doc_stride",
    ):
        if getattr(args, key) is not None:
            setattr(spec.data, key, getattr(args, key))
    for key in (
        "model",
        "task",
        "engine",
        "epochs",
        "batch_size",
        "learning_rate",
        "max_steps",
        "seed",
        "device",
        "replace_head",
        "trust_remote_code",
        "allow_pickle",
        "offline",
        "precision",
        "grad_accum",
        "grad_checkpointing",
    ):
        if getattr(args, key, None) is not None:
            setattr(spec, key, getattr(args, key))
    if getattr(args, "qlora", None):
        spec.qlora = True
    if (getattr(args, "lora", None) or spec.qlora) and spec.lora is None:
        from tui_hf.core.training.spec import LoraSpec

        spec.lora = LoraSpec()
    return spec


def one_line_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The app's own errors and a failing run directory as one line and an exit code, never a traceback."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        from tui_hf.cli.report import error_line, fail
        from tui_hf.core.errors import TuiHfError
        from tui_hf.core.training.storage import is_storage_error, storage_error

        try:
            return command(args)
        except TuiHfError as exc:
            return fail(error_line(exc), exc.exit_code)
        except OSError as exc:
            if not is_storage_error(exc):
                raise
            err = storage_error(exc, getattr(exc, "filename", None) or "the run directory")
            return fail(str(err), err.exit_code)

    return run


@one_line_errors
def train_command(args: argparse.Namespace) -> int:
    from tui_hf.core.training.job import create_run, launch, run_foreground
    from tui_hf.core.training.nodes import check_nodes

    nodes = check_nodes(args.nnodes, args.node_rank, args.rdzv)
    spec = build_spec(args)
    if args.dry_run:
        from tui_hf.core.training.plan import plan_job

        warn = lambda text: print(f"tui-hf: warning: {text}", file=sys.stderr)  # noqa: E731
        from tui_hf.core.training.preflight import check

        data = check(spec, args.nproc)
        for w in data.warnings:
            warn(w)
        print(f"dry run: {spec.model} ({spec.task}, {spec.engine} engine): nothing was created")
        for line in plan_job(spec, args.nproc, data).lines(spec):
            print(f"  {line}")
        return 0
    if nodes is not None and nodes.node_rank > 0:
        return _join_nodes(spec, nodes, args)
    run_dir = create_run(
        spec,
        args.runs_dir,
        args.name,
        nproc=args.nproc,
        warn=lambda text: print(f"tui-hf: warning: {text}", file=sys.stderr),
    )
    if args.detach:
        pid = launch(run_dir, args.nproc, nodes=nodes)
        print(f"started {run_dir} (pid {pid}); follow it with: tui-hf attach {run_dir}")
        return 0
    print(f"run {run_dir} (closing this terminal does not stop it; ctrl+c stops it with a checkpoint)", flush=True)
    return run_foreground(run_dir, args.nproc, nodes=nodes)


def _join_nodes(spec: Any, nodes: Any, args: argparse.Namespace) -> int:
    """A machine other than node rank 0: train its share from a node directory; the run is on node rank 0's."""
    import shutil

    from tui_hf.core.training.job import create_node_dir, launch, run_foreground

    node_dir = create_node_dir(spec, args.nproc, warn=lambda text: print(f"tui-hf: warning: {text}", file=sys.stderr))
    where = f"node rank {nodes.node_rank} of {nodes.nnodes}, rendezvous {nodes.endpoint}"
    if args.detach:
        pid = launch(node_dir, args.nproc, nodes=nodes)
        print(f"joined the job ({where}; pid {pid}); the run is on node rank 0's machine: attach to it there")
        return 0
    print(f"joining the job ({where}); the run is on node rank 0's machine: attach to it there", flush=True)
    try:
        return run_foreground(node_dir, args.nproc, nodes=nodes)
    finally:
        shutil.rmtree(node_dir, ignore_errors=True)


@one_line_errors
def runs_command(args: argparse.Namespace) -> int:
    from tui_hf.core.training.job import delete_run, resolve_run, run_path
    from tui_hf.core.training.runs import RunsWatcher, runs_root, shown_dir

    if getattr(args, "runs_command", None) == "rm":
        root = args.rm_runs_dir or args.runs_dir
        # Not resolve_run: what is not a run is still named, with what deleting it would have removed.
        run_dir = run_path(args.run, root)
        if not run_dir.exists() and not run_dir.is_symlink():
            resolve_run(args.run, root)  # "no run named NAME in RUNS_DIR"
        delete_run(run_dir, root)
        print(f"deleted {run_dir}")
        return 0
    if args.diff:
        from tui_hf.core.errors import SpecError
        from tui_hf.core.training.compare import compare_runs, format_comparison

        if len(args.diff) < 2:
            raise SpecError("--diff needs two or more runs")
        print(format_comparison(compare_runs([resolve_run(r, args.runs_dir) for r in args.diff], args.by)))
        return 0
    runs = RunsWatcher(args.runs_dir).refresh()  # newest first, as the app's runs list
    if not runs:
        print(f"no runs in {shown_dir(runs_root(args.runs_dir))}")
        return 0
    print(f"{'run':<44} {'status':<9} {'step':>11} {'loss':>7} {'best':>16}  alerts")
    for r in runs:
        steps = f"{r.step}/{r.total_steps}" if r.total_steps else "-"
        loss = f"{r.loss:.4f}" if r.loss is not None else "-"
        best = f"{r.best[0]} {r.best[1]:.4f}" if r.best else "-"
        alerts = "-"
        if r.alerts:
            last = r.alert or {}
            at = f" at step {last.get('step')}" if last.get("step") is not None else ""
            alerts = f"{r.alerts}: {last.get('kind') or last.get('level')}{at}"
        line = f"{r.name:<44} {r.status:<9} {steps:>11} {loss:>7} {best:>16}  {alerts}"
        if r.vitals and r.alive:  # a finished run's last sample says nothing about the machine now
            from tui_hf.core.training.vitals import headline

            line += f"  {headline(r.vitals)}"
        print(line)
    return 0


@one_line_errors
def attach_command(args: argparse.Namespace) -> int:
    from tui_hf.core.training.job import resolve_run

    if args.once:
        from tui_hf.core.training.follow import snapshot

        print(snapshot(resolve_run(args.run, args.runs_dir)))
        return 0
    from tui_hf.ui.training.attach import AttachApp

    app = AttachApp(resolve_run(args.run, args.runs_dir))
    app.run()
    return app.return_code or 0


@one_line_errors
def stop_command(args: argparse.Namespace) -> int:
    from tui_hf.core.training.job import request_stop, resolve_run

    run_dir = resolve_run(args.run, args.runs_dir)
    pid = request_stop(run_dir)
    print(f"asked {run_dir} (pid {pid}) to stop; it saves a checkpoint first")
    return 0


@one_line_errors
def control_command(args: argparse.Namespace) -> int:
    import time

    from tui_hf.core.training.control import Control, send_control
    from tui_hf.core.training.events import EventReader
    from tui_hf.core.training.job import resolve_run

    run_dir = resolve_run(args.run, args.runs_dir)
    early = args.action == "early-stop"
    control = Control(args.action, metric=args.metric if early else None, patience=args.patience if early else None)
    reader = EventReader(run_dir)
    reader.read()  # acknowledgements from now on
    request = send_control(run_dir, control)
    if args.wait <= 0:
        print(f"asked {run_dir} to {args.action} (request {request})")
        return 0
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        for e in reader.read():
            if e.get("event") == "control" and e.get("request") == request:
                refused = e.get("refused") is True
                print(f"{run_dir.name}: {'refused' if refused else 'done'}: {e.get('message')}")
                return 2 if refused else 0
        time.sleep(0.2)
    print(
        f"asked {run_dir} to {args.action} (request {request}); no acknowledgement within {args.wait:g} s: "
        "the job acts at its next step",
        file=sys.stderr,
    )
    return 0


@one_line_errors
def batch_command(args: argparse.Namespace) -> int:
    from tui_hf.core.errors import TuiHfError
    from tui_hf.core.training.job import check_data_files, resolve_run
    from tui_hf.core.training.snapshots import kept, with_check
    from tui_hf.core.training.xray import format_xray, xray

    run_dir = resolve_run(args.run, args.runs_dir)
    copy = kept(run_dir, args.step)
    try:
        check_data_files(run_dir, "X-ray")
        import transformers  # noqa: F401  (imported first so its default log handler can be replaced)

        from tui_hf.core.quiet import route_library_logs

        route_library_logs()  # the loading chatter goes to the log file, the X-ray to the terminal
        x = with_check(copy, xray(run_dir, args.step))  # differing: the batch as trained
    except TuiHfError as exc:
        if copy is None:
            raise
        copy.problems.append(str(exc))  # not rebuilt (data gone, step not recorded): as trained, unchecked
        x = copy
    print(format_xray(x))
    return 0 if x.matches else 1


@one_line_errors
def resume_command(args: argparse.Namespace) -> int:
    from tui_hf.core.training.job import launch, resolve_run, resume_plan, run_foreground

    run_dir = resolve_run(args.run, args.runs_dir)
    plan = resume_plan(run_dir, args.data_changed)
    if args.detach:
        pid = launch(run_dir, args.nproc, args.data_changed)
        print(f"{plan.describe(done=True)} (pid {pid}); follow it with: tui-hf attach {run_dir}")
        return 0
    print(plan.describe(), flush=True)
    return run_foreground(run_dir, args.nproc, args.data_changed)


@one_line_errors
def export_command(args: argparse.Namespace) -> int:
    from tui_hf.core.training.events import to_csv
    from tui_hf.core.training.job import export_target, resolve_run

    run_dir = resolve_run(args.run, args.runs_dir)
    if args.merge:
        from tui_hf.core.errors import SpecError
        from tui_hf.core.training.merge import merge_run, merge_target

        if args.out or args.script:
            raise SpecError("give --merge DIR alone (not with OUT or --script)")
        merge_target(args.merge)  # refused before torch is imported
        import transformers  # noqa: F401  (imported first so its default log handler can be replaced)

        from tui_hf.core.quiet import route_library_logs

        route_library_logs()
        out, base = merge_run(run_dir, args.merge)
        print(f"wrote {out}: {run_dir.name}'s LoRA adapters merged into {base} (a plain model, safetensors)")
        return 0
    if args.script:
        from tui_hf.core.errors import SpecError
        from tui_hf.core.training.script import LEFT_OUT, export_script

        if args.out:
            raise SpecError("give either OUT (a CSV of the metrics) or --script FILE, not both")
        script = export_script(run_dir, export_target(run_dir, args.script, args.overwrite, own="train.py"))
        print(f"wrote {script}: `python {script}` trains as {run_dir.name} did, without tui-hf (left out: {LEFT_OUT})")
        return 0
    out = export_target(run_dir, args.out, args.overwrite)
    print(f"wrote {to_csv(run_dir, out)} rows to {out}")
    return 0


TRAINING_COMMANDS = {
    "train": train_command,
    "runs": runs_command,
    "attach": attach_command,
    "stop": stop_command,
    "resume": resume_command,
    "export": export_command,
    "control": control_command,
    "batch": batch_command,
}
