"""`tui-hf export RUN --merge DIR`: a LoRA run's final model as a plain model (the adapters merged into the
base weights, peft's merge_and_unload), which loads anywhere without peft."""

from __future__ import annotations

import shutil
from pathlib import Path

from tui_hf.core.adapters import adapter_base, load_merged
from tui_hf.core.errors import RunStateError, SaveTargetError, TargetNotEmptyError
from tui_hf.core.training.preflight import HEADS
from tui_hf.core.training.runs import SPEC, is_run_dir
from tui_hf.core.training.spec import TrainSpec
from tui_hf.core.training.storage import storage_error


def merge_target(out: str | Path) -> Path:
    """A new directory: never an existing path (a merge replaces nothing), never inside a run directory."""
    target = Path(out).expanduser()
    if target.exists() or target.is_symlink():
        raise TargetNotEmptyError(f"{out} already exists: --merge writes a new directory (name another)")
    where = target.resolve()
    for folder in where.parents:
        if is_run_dir(folder):
            raise SaveTargetError(
                f"{out} is inside the run directory {folder}: merging there could replace the run's own files; "
                "write the merged model elsewhere"
            )
    if not where.parent.is_dir():
        raise SaveTargetError(f"no folder {target.parent} to write {target.name} into")
    return target


def merge_run(run_dir: Path, out: str | Path) -> tuple[Path, str]:
    """Write the merged model and its tokenizer into `out`; returns it and the base model's name."""
    import transformers

    target = merge_target(out)
    final = Path(run_dir) / "final"
    if not final.is_dir():
        raise RunStateError(f"{run_dir.name} has no final model yet: --merge works on a finished LoRA run")
    base = adapter_base(final)
    if base is None:
        raise RunStateError(
            f"{run_dir.name} was not trained with LoRA: {final} is already a plain model, nothing to merge"
        )
    spec = TrainSpec.load(Path(run_dir) / SPEC)
    cls = getattr(transformers, "AutoModelFor" + HEADS[spec.task])
    model = load_merged(cls, final, trust_remote_code=spec.trust_remote_code)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(final))
    staged = target.parent / f".{target.name}.partial"  # renamed into place whole: a kill leaves no half model
    try:
        shutil.rmtree(staged, ignore_errors=True)
        model.save_pretrained(staged)  # safetensors
        tokenizer.save_pretrained(staged)
        staged.rename(target)
    except OSError as exc:
        shutil.rmtree(staged, ignore_errors=True)
        raise storage_error(exc, f"cannot write the merged model to {out}") from None
    return target, base
