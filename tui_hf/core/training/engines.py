"""The two ways the Hugging Face course finetunes: `Trainer` + `TrainingArguments`, and a native PyTorch
loop (AdamW, linear schedule with warmup, gradient clipping, evaluation each epoch). Same spec in, same
events out, same checkpoint layout (runs/<id>/checkpoints/checkpoint-<step>, runs/<id>/final).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_hf.core.errors import SpecError
from tui_hf.core.training.data import Prepared, prepare
from tui_hf.core.training.events import EventWriter
from tui_hf.core.training.spec import TrainSpec

HEADS = {"text-classification": "AutoModelForSequenceClassification",
         "token-classification": "AutoModelForTokenClassification",
         "causal-lm": "AutoModelForCausalLM"}
KEEP_CHECKPOINTS = 2


@dataclass
class Outcome:
    stopped: bool
    step: int
    final_path: str | None


def checkpoints_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = [(int(m.group(1)), p) for p in checkpoints_dir(run_dir).glob("checkpoint-*")
             if (m := re.fullmatch(r"checkpoint-(\d+)", p.name)) and (p / "config.json").is_file()]
    return max(found)[1] if found else None


def load_tokenizer_for(spec: TrainSpec) -> tuple[Any, Any]:
    from tui_hf.core.hub import parse_ref, resolve
    from tui_hf.core.models import load_tokenizer

    resolved = resolve(parse_ref(spec.model), offline=spec.offline)
    return resolved, load_tokenizer(resolved)


def build_model(spec: TrainSpec, resolved: Any, labels: list[str], source: str | None = None) -> Any:
    """The model with the task's head, sized for the data's labels; refuses to drop a trained head silently."""
    import transformers

    kwargs: dict[str, Any] = {}
    if spec.task != "causal-lm":
        config = transformers.AutoConfig.from_pretrained(resolved.source, local_files_only=resolved.local_files_only)
        head = HEADS[spec.task].removeprefix("AutoModelFor")
        trained = [a for a in (config.architectures or []) if a.endswith(head)]
        if source is None and trained and config.num_labels != len(labels) and not spec.replace_head:
            raise SpecError(
                f"{spec.model} has a trained {head} head with {config.num_labels} labels "
                f"({', '.join(map(str, config.id2label.values()))}) but the data has {len(labels)} "
                f"({', '.join(labels)}); set replace_head to start a new head")
        kwargs = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                  "label2id": {name: i for i, name in enumerate(labels)}}
        if trained and spec.replace_head:
            kwargs["ignore_mismatched_sizes"] = True
    cls = getattr(transformers, HEADS[spec.task])
    return cls.from_pretrained(source or resolved.source, local_files_only=True if source else resolved.local_files_only,
                               use_safetensors=True, **kwargs)


def metrics_from(logits: Any, labels: Any) -> dict[str, float]:
    """Accuracy and macro F1 over positions whose label is not -100 (numpy or torch arrays)."""
    import numpy as np

    logits, labels = np.asarray(logits), np.asarray(labels)
    preds = logits.argmax(-1)
    keep = labels != -100
    preds, labels = preds[keep], labels[keep]
    if labels.size == 0:
        return {}
    f1s = []
    for c in np.unique(np.concatenate([labels, preds])):
        tp = float(((preds == c) & (labels == c)).sum())
        fp, fn = float(((preds == c) & (labels != c)).sum()), float(((preds != c) & (labels == c)).sum())
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return {"accuracy": float((preds == labels).mean()), "f1": float(np.mean(f1s))}


def _warmup_steps(spec: TrainSpec, total: int) -> int:
    return int(spec.warmup * total) if spec.warmup < 1 else int(spec.warmup)


def save_final(model: Any, tokenizer: Any, run_dir: Path) -> str:
    final = run_dir / "final"
    model.save_pretrained(final)
    tokenizer.save_pretrained(final)
    return str(final)


# -- Trainer --------------------------------------------------------------------------------------------


def run_trainer(spec: TrainSpec, run_dir: Path, writer: EventWriter | None, stop: threading.Event) -> Outcome:
    import torch
    from transformers import PrinterCallback, Trainer, TrainingArguments, set_seed

    from tui_hf.core.training.callback import TuiHfCallback

    set_seed(spec.seed)
    resolved, tok = load_tokenizer_for(spec)
    prep = prepare(spec, tok)
    model = build_model(spec, resolved, prep.labels)
    args = TrainingArguments(
        output_dir=str(checkpoints_dir(run_dir)), num_train_epochs=spec.epochs, max_steps=spec.max_steps,
        per_device_train_batch_size=spec.batch_size, per_device_eval_batch_size=spec.batch_size * 2,
        learning_rate=spec.learning_rate, weight_decay=spec.weight_decay, warmup_steps=spec.warmup,
        max_grad_norm=spec.max_grad_norm, logging_steps=spec.logging_steps, logging_first_step=True,
        eval_strategy="epoch" if prep.eval is not None else "no", save_strategy="epoch",
        save_total_limit=KEEP_CHECKPOINTS, seed=spec.seed, report_to="none", disable_tqdm=True,
        use_cpu=spec.device == "cpu", dataloader_num_workers=0, dataloader_pin_memory=torch.cuda.is_available(),
    )
    callback = TuiHfCallback(run_dir, stop_event=stop, tokens_per_sample=prep.tokens_per_sample, labels=prep.labels,
                             engine="trainer", model_name=spec.model, owns_status=False, writer=writer)

    def compute_metrics(pred: Any) -> dict[str, float]:
        return metrics_from(pred.predictions, pred.label_ids)

    trainer = Trainer(model=model, args=args, train_dataset=prep.train, eval_dataset=prep.eval,
                      processing_class=tok, data_collator=prep.collator, callbacks=[callback],
                      compute_metrics=compute_metrics if spec.task != "causal-lm" else None)
    trainer.remove_callback(PrinterCallback)  # our callback reports; the printer would repeat it on stdout
    resume = latest_checkpoint(run_dir)
    if resume is None and prep.eval is not None:
        # A baseline before the first step, so the curve shows what finetuning changed. The start event
        # goes first, with the step count Trainer will compute (one optimizer step per batch).
        per_epoch = math.ceil(len(prep.train) / (spec.batch_size * args.world_size))
        callback.total_steps = spec.max_steps if spec.max_steps > 0 else math.ceil(spec.epochs * per_epoch)
        callback.on_train_begin(args, trainer.state, trainer.control, model=model)
        callback.started = True
        trainer.evaluate()
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    final = None
    if trainer.is_world_process_zero() and not callback.stopped:
        final = save_final(trainer.model, tok, run_dir)
    return Outcome(callback.stopped, trainer.state.global_step, final)


# -- native loop ----------------------------------------------------------------------------------------


def run_native(spec: TrainSpec, run_dir: Path, writer: EventWriter | None, stop: threading.Event) -> Outcome:
    import torch
    import torch.distributed as dist
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler
    from transformers import get_linear_schedule_with_warmup, set_seed

    from tui_hf.core.device import pick_device
    from tui_hf.core.training.callback import memory_mb

    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(spec.device).device
    if world > 1:
        if device.startswith("cuda"):
            device = f"cuda:{local_rank}"
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    main_rank = rank == 0
    set_seed(spec.seed)
    resolved, tok = load_tokenizer_for(spec)
    prep: Prepared = prepare(spec, tok)
    resume = latest_checkpoint(run_dir)
    model = build_model(spec, resolved, prep.labels, source=str(resume) if resume else None).to(device)
    core = model
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if device.startswith("cuda")
                                                          else None)
    sampler = DistributedSampler(prep.train, num_replicas=world, rank=rank, shuffle=True, seed=spec.seed) \
        if world > 1 else None
    generator = torch.Generator()
    loader = DataLoader(prep.train, batch_size=spec.batch_size, shuffle=sampler is None, sampler=sampler,
                        collate_fn=prep.collator, generator=generator)
    steps_per_epoch = len(loader)
    total = spec.max_steps if spec.max_steps > 0 else math.ceil(spec.epochs * steps_per_epoch)
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "ln_")
    groups = [
        {"params": [p for n, p in core.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": spec.weight_decay},
        {"params": [p for n, p in core.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    # The fused kernel (what Trainer picks too) where this torch has it for the device; foreach otherwise.
    try:
        optimizer = torch.optim.AdamW(groups, lr=spec.learning_rate, fused=True)
    except (RuntimeError, TypeError, ValueError):
        optimizer = torch.optim.AdamW(groups, lr=spec.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, _warmup_steps(spec, total), total)
    step = 0
    if resume is not None:
        state = torch.load(resume / "training_state.pt", weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = int(state["step"])
    if main_rank and writer is not None:
        writer.write("start", total_steps=total, epochs=spec.epochs, engine="native", model=spec.model,
                     labels=prep.labels, pid=os.getpid(), world_size=world, resumed_from_step=step,
                     batch_size=spec.batch_size * world)

    def save_checkpoint() -> None:
        if not main_rank:
            return
        path = checkpoints_dir(run_dir) / f"checkpoint-{step}"
        core.save_pretrained(path)
        tok.save_pretrained(path)
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step},
                   path / "training_state.pt")
        old = sorted((p for p in checkpoints_dir(run_dir).glob("checkpoint-*") if p != path),
                     key=lambda p: int(p.name.split("-")[1]))
        for p in old[: max(len(old) - (KEEP_CHECKPOINTS - 1), 0)]:
            shutil.rmtree(p, ignore_errors=True)
        if writer is not None:
            writer.write("checkpoint", step=step, path=str(path))

    def evaluate() -> dict[str, float]:
        if prep.eval is None or not main_rank:
            return {}
        core.eval()
        losses, all_logits, all_labels = [], [], []
        with torch.inference_mode():
            for batch in DataLoader(prep.eval, batch_size=spec.batch_size * 2, collate_fn=prep.collator):
                batch = {k: v.to(device) for k, v in batch.items()}
                out = core(**batch)
                losses.append(float(out.loss))
                if spec.task != "causal-lm":
                    logits, labels = out.logits.float().cpu(), batch["labels"].cpu()
                    if logits.dim() == 3:  # token classification: one row per position
                        logits, labels = logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)
                    all_logits.append(logits)
                    all_labels.append(labels)
        core.train()
        result = {"eval_loss": sum(losses) / max(len(losses), 1)}
        if all_logits:
            result.update({f"eval_{k}": v for k, v in
                           metrics_from(torch.cat(all_logits).numpy(), torch.cat(all_labels).numpy()).items()})
        return result

    def stop_requested() -> bool:
        flag = torch.tensor([1.0 if stop.is_set() else 0.0])
        if world > 1:  # every rank must leave the loop at the same step, or the others hang in all-reduce
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    if resume is None:
        baseline = evaluate()  # before the first step, so the curve shows what finetuning changed
        if main_rank and writer is not None and baseline:
            writer.write("eval", step=0, epoch=0.0, **baseline)
    model.train()
    last_time, samples, tokens = time.time(), 0, 0
    stopped = False
    start_epoch = step // steps_per_epoch if steps_per_epoch else 0
    for epoch in range(start_epoch, math.ceil(total / max(steps_per_epoch, 1))):
        if sampler is not None:
            sampler.set_epoch(epoch)
        generator.manual_seed(spec.seed + epoch)  # the same order on resume, so done batches can be skipped
        skip = step - epoch * steps_per_epoch
        for i, batch in enumerate(loader):
            if i < skip:
                continue
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = model(**batch).loss
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), spec.max_grad_norm))
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            samples += batch["input_ids"].shape[0] * world
            tokens += int(batch["attention_mask"].sum()) * world if "attention_mask" in batch else 0
            if main_rank and writer is not None and (step % spec.logging_steps == 0 or step in (1, total)):
                now = time.time()
                writer.write("train", step=step, epoch=round(step / steps_per_epoch, 4), loss=float(loss),
                             learning_rate=scheduler.get_last_lr()[0], grad_norm=grad_norm,
                             samples_per_second=round(samples / (now - last_time), 3),
                             tokens_per_second=round(tokens / (now - last_time), 1), memory_mb=memory_mb())
                last_time, samples, tokens = now, 0, 0
            if stop_requested():
                stopped = True
                break
            if step >= total:
                break
        if stopped:
            break
        metrics = evaluate()
        if main_rank and writer is not None and metrics:
            writer.write("eval", step=step, epoch=round(step / steps_per_epoch, 4), **metrics)
        save_checkpoint()
        last_time, samples, tokens = time.time(), 0, 0
        if step >= total:
            break
    if stopped:
        save_checkpoint()
    final = save_final(core, tok, run_dir) if main_rank and not stopped else None
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return Outcome(stopped, step, final)


ENGINES = {"trainer": run_trainer, "native": run_native}
