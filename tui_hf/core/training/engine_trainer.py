"""The `Trainer` + `TrainingArguments` engine: transformers does the loop; TuiHfCallback writes the events.

Trainer saves each checkpoint into checkpoints/.staging (its output_dir); the callback moves it into place
when the save is complete, so this engine's checkpoints are as atomic as the native loop's. Resuming hands
Trainer the last complete checkpoint: it restores the optimizer, scheduler and RNG states and skips the
batches already trained.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from tui_hf.core.errors import DeviceError, StorageError
from tui_hf.core.training import checkpoints
from tui_hf.core.training.data import Prepared, prepare
from tui_hf.core.training.engine import (
    Context,
    Outcome,
    StartInfo,
    build_model,
    checkpoint_bytes,
    enable_grad_checkpointing,
    job_precision,
    load_tokenizer_for,
    save_final,
    storage_failure,
)
from tui_hf.core.training.storage import is_storage_error, storage_error


class TrainerEngine:
    name: ClassVar[str] = "trainer"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.spec = ctx.spec

    def prepare(self) -> StartInfo:
        import torch
        from transformers import (
            PrinterCallback,
            Seq2SeqTrainer,
            Seq2SeqTrainingArguments,
            Trainer,
            TrainerCallback,
            TrainingArguments,
            set_seed,
        )

        from tui_hf.core.training.callback import TuiHfCallback

        spec, ctx = self.spec, self.ctx
        set_seed(spec.seed)
        self.resolved, self.tok = load_tokenizer_for(spec)
        self.prep: Prepared = prepare(spec, self.tok, ctx.plan, ctx.stop)
        model = build_model(spec, self.resolved, self.prep.labels)
        from tui_hf.core.training.families import family

        fam = family(spec.task)
        fam.prepare_model(model, self.tok, spec)
        generating: dict[str, Any] = {}
        if fam.generates:  # Seq2SeqTrainer, predicting with generate as the model's generation config says
            gen = fam.generation_kwargs(model, spec)
            generating = {
                "predict_with_generate": True,
                "generation_max_length": gen.get("max_length"),
                "generation_num_beams": gen.get("num_beams"),
            }  # a model's max_new_tokens stays in its generation config, which Seq2SeqTrainer reads
        from tui_hf.core.device import pick_device

        self.precision = job_precision(spec, pick_device(spec.device).device)
        enable_grad_checkpointing(model, spec)  # refused here for a model without it; Trainer re-enables it
        args = (Seq2SeqTrainingArguments if fam.generates else TrainingArguments)(
            output_dir=str(checkpoints.staging_dir(ctx.run_dir)),
            num_train_epochs=spec.epochs,
            max_steps=spec.max_steps,
            per_device_train_batch_size=spec.batch_size,
            gradient_accumulation_steps=spec.grad_accum,
            activation_checkpointing=spec.grad_checkpointing,  # transformers 5's name for it
            activation_checkpointing_kwargs={"use_reentrant": False} if spec.grad_checkpointing else None,
            bf16=self.precision == "bf16",
            fp16=self.precision == "fp16",
            per_device_eval_batch_size=spec.batch_size * 2,
            learning_rate=spec.learning_rate,
            weight_decay=spec.weight_decay,
            warmup_steps=spec.warmup,
            max_grad_norm=spec.max_grad_norm,
            logging_steps=spec.logging_steps,
            logging_first_step=True,
            eval_strategy="epoch" if self.prep.eval is not None else "no",
            save_strategy="epoch",
            save_total_limit=None,
            seed=spec.seed,
            report_to="none",
            disable_tqdm=True,
            remove_unused_columns=False,  # the row-index columns reach our collator, which strips them
            use_cpu=spec.device == "cpu",
            dataloader_num_workers=0,
            dataloader_pin_memory=torch.cuda.is_available(),
            # Its default scales each rank's loss by the number of processes, for models that divide by the
            # tokens of all ranks; a head whose loss is a plain mean (classification...) then shows, and
            # trains on, the loss times the world size. Off, each rank's mean is DDP-averaged: the true loss.
            average_tokens_across_devices=False,
            **generating,
        )
        wanted = spec.device.split(":")[0]
        if wanted not in ("auto",) and args.device.type != wanted:
            # Trainer falls back to the CPU without a word when the named accelerator is missing.
            raise DeviceError(f"device {spec.device!r} was asked for but Trainer would train on {args.device.type}")
        self.args = args
        from tui_hf.core.training.predict import predict_examples
        from tui_hf.core.training.watch import make_watch

        self.callback = TuiHfCallback(
            ctx.run_dir,
            stop_event=ctx.stop,
            tokens_per_sample=self.prep.tokens_per_sample,
            labels=self.prep.labels,
            engine=self.name,
            model_name=spec.model,
            owns_status=False,
            writer=ctx.writer,
            commit_checkpoints=True,
            on_stop=ctx.acknowledge_stop,
            watch=make_watch(ctx, self.prep.collator, self.tok, self.prep),
            can_evaluate=self.prep.eval is not None,
            eval_steps=spec.eval_steps,
            predictor=lambda m: predict_examples(m, self.tok, spec, self.prep),
            heartbeat=ctx.heartbeat,
        )
        self.callback.started = True  # the job writes the start event itself (before the baseline)

        class FromLoss(TrainerCallback):
            """Adds what follows from eval_loss (perplexity) before our callback writes the eval event:
            Trainer's compute_metrics never sees the loss."""

            def on_evaluate(
                self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kwargs: Any
            ) -> None:
                if metrics is not None:
                    fam.from_loss(metrics)

        def compute_metrics(pred: Any) -> dict[str, float]:
            if fam.generates:
                return fam.score_generated(self.tok, [pred.predictions], [pred.label_ids])
            if fam.scores_outputs:  # whole outputs, in the eval set's order (the native loop scores the same)
                return fam.score_outputs([tuple(pred.predictions)], self.prep)
            return fam.score([pred.predictions], [pred.label_ids], self.prep.labels)  # Trainer adds eval_

        def argmax(logits: Any, labels: Any) -> Any:  # kept per batch instead of whole logits
            return (logits[0] if isinstance(logits, tuple) else logits).argmax(-1)

        self.trainer = (Seq2SeqTrainer if fam.generates else Trainer)(
            model=model,
            args=args,
            train_dataset=self.prep.train,
            eval_dataset=self.prep.eval,
            processing_class=self.tok,
            data_collator=self.prep.collator,
            callbacks=[FromLoss(), self.callback],
            compute_metrics=compute_metrics if fam.scores_logits or fam.generates or fam.scores_outputs else None,
            preprocess_logits_for_metrics=argmax if fam.scores_logits else None,
        )
        if spec.grad_accum > 1:
            # Trainer divides the loss by the accumulation steps only when it thinks the model scales by
            # num_items_in_batch itself; many heads (BERT's sequence classifier) take **kwargs and ignore it,
            # so their accumulated gradient came out N times too large. The native loop's rule: loss / N.
            self.trainer.model_accepts_loss_kwargs = False
        self.trainer.remove_callback(PrinterCallback)  # our callback reports; the printer would repeat it
        # Trainer's own count: one optimizer step per grad_accum batches (a last shorter group counts), batches
        # split over the processes.
        batches = math.ceil(len(self.prep.train) / (spec.batch_size * args.world_size))
        per_epoch = max(math.ceil(batches / spec.grad_accum), 1)
        self.total = spec.max_steps if spec.max_steps > 0 else math.ceil(spec.epochs * per_epoch)
        resume = ctx.checkpoint
        from tui_hf.core.training.lora import parameter_counts

        trainable, total = parameter_counts(model)
        return StartInfo(
            total_steps=self.total,
            epochs=spec.epochs,
            labels=self.prep.labels,
            batch_size=spec.batch_size * spec.grad_accum * args.world_size,
            world_size=args.world_size,
            resumed_from_step=resume.step if resume else 0,
            checkpoint=str(resume.path) if resume else None,
            trainable_parameters=trainable,
            total_parameters=total,
            precision=self.precision,
            grad_accum=spec.grad_accum,
            grad_checkpointing=spec.grad_checkpointing,
        )

    def evaluate(self, baseline: bool = False) -> dict[str, float]:
        if self.prep.eval is None:
            return {}
        self.callback.abort_evaluation = baseline
        try:
            return self.trainer.evaluate()  # the callback's on_evaluate writes the event
        finally:
            self.callback.abort_evaluation = False

    def train(self) -> Outcome:
        resume = self.ctx.checkpoint
        try:
            self.trainer.train(resume_from_checkpoint=str(resume.path) if resume else None)
        except Exception as exc:
            staged = self._discard_staged()
            what = f"saving {staged or 'a checkpoint'}"
            if isinstance(exc, OSError) and is_storage_error(exc):
                raise storage_error(exc, what) from None
            reason = storage_failure(self.ctx.run_dir, what, checkpoint_bytes(self.trainer.model)) if staged else None
            if reason:
                raise StorageError(reason) from None
            raise
        state = self.trainer.state
        return Outcome(self.callback.stopped, state.global_step, total_steps=state.max_steps or self.total)

    def _discard_staged(self) -> str:
        """Remove a save Trainer did not finish; returns its name ("" when there was none)."""
        staging = checkpoints.staging_dir(self.ctx.run_dir)
        names = []
        if staging.is_dir():
            for p in staging.iterdir():
                names.append(p.name)
                checkpoints.discard(p)
        return ", ".join(names)

    def save(self) -> str:
        if not self.trainer.is_world_process_zero():
            return ""
        return save_final(self.trainer.model, self.tok, self.ctx.run_dir)
