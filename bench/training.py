"""Training throughput of a tui-hf job vs a bare script, per engine, and UI key latency while a job trains.

Same model (the embedded all-MiniLM-L6-v2), data (the shipped sentiment.csv), batch size, max length and
seed on both sides. Steps/s is measured over the steps of the first epoch (between the step-1 and the
last step's timestamps), so start-up and the epoch-end checkpoint are outside the window on both sides.
Usage: python bench/training.py [--repeat N] [--seq2seq MODEL [--only-seq2seq]]

The seq2seq row (with --seq2seq MODEL, an encoder-decoder directory or cached hub id): a job on the shipped
headlines against a course-style Seq2SeqTrainer script, steps/s, and the evaluation's time with generation
(the job's, and the script's Seq2SeqTrainer.evaluate with predict_with_generate) beside
Seq2SeqTrainer.evaluate without generation (the loss alone).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

BATCH, MAX_LEN, STEPS = 8, 64, 32  # 256 train rows / 8 = one epoch of 32 steps

BARE = textwrap.dedent("""
    import json, sys, time, torch
    from datasets import load_dataset
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainerCallback, TrainingArguments, get_linear_schedule_with_warmup, set_seed)
    engine, model_dir, data, out = sys.argv[1:5]
    BATCH, MAX_LEN, STEPS = {batch}, {max_len}, {steps}
    set_seed(42)
    tok = AutoTokenizer.from_pretrained(model_dir)
    raw = load_dataset("csv", data_files=data)["train"].train_test_split(test_size=0.2, seed=42)["train"]
    names = sorted(set(raw["label"]))
    ds = raw.map(lambda b: {{**tok(b["text"], truncation=True, max_length=MAX_LEN),
                            "labels": [names.index(l) for l in b["label"]]}}, batched=True,
                 remove_columns=raw.column_names)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=len(names))
    collator = DataCollatorWithPadding(tok)
    times = []
    if engine == "trainer":
        class Clock(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                times.append((state.global_step, time.time()))
        args = TrainingArguments(output_dir=out + "/ckpt", max_steps=STEPS, per_device_train_batch_size=BATCH,
                                 learning_rate=5e-5, warmup_steps=0.1, weight_decay=0.01, report_to="none",
                                 disable_tqdm=True, save_strategy="no", logging_steps=1, use_cpu=True,
                                 dataloader_pin_memory=False, seed=42)
        Trainer(model=model, args=args, train_dataset=ds, processing_class=tok, data_collator=collator,
                callbacks=[Clock()]).train()
    else:
        # The same batch order as the job (its sampler is seeded with seed + epoch): padded lengths, and so
        # the work per step, match step for step.
        generator = torch.Generator()
        generator.manual_seed(42)
        loader = torch.utils.data.DataLoader(ds, batch_size=BATCH, shuffle=True, collate_fn=collator,
                                             generator=generator)
        opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01, fused=True)
        sched = get_linear_schedule_with_warmup(opt, int(0.1 * STEPS), STEPS)
        model.train()
        for step, batch in enumerate(loader, 1):
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(); sched.step(); opt.zero_grad(set_to_none=True)
            times.append((step, time.time()))
            if step == STEPS:
                break
    json.dump(times, open(out + "/times.json", "w"))
""").format(batch=BATCH, max_len=MAX_LEN, steps=STEPS)


# The seq2seq row: a course-style Seq2SeqTrainer script (predict_with_generate), on the shipped headlines.
BARE_S2S = textwrap.dedent("""
    import json, sys, time
    import numpy as np, sacrebleu
    from datasets import load_dataset
    from rouge_score import rouge_scorer
    from transformers import (AutoModelForSeq2SeqLM, AutoTokenizer, DataCollatorForSeq2Seq, Seq2SeqTrainer,
                              Seq2SeqTrainingArguments, TrainerCallback, set_seed)
    model_dir, data, out, steps, batch, max_len = sys.argv[1:7]
    steps, batch, max_len = int(steps), int(batch), int(max_len)
    set_seed(42)
    tok = AutoTokenizer.from_pretrained(model_dir)
    raw = load_dataset("json", data_files=data)["train"].train_test_split(test_size=0.2, seed=42)
    ds = raw.map(lambda b: tok(b["source"], text_target=b["target"], truncation=True, max_length=max_len),
                 batched=True, remove_columns=raw["train"].column_names)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    def metrics(p):
        preds = np.where(p.predictions != -100, p.predictions, tok.pad_token_id)
        labels = np.where(p.label_ids != -100, p.label_ids, tok.pad_token_id)
        hyp = [t.strip() for t in tok.batch_decode(preds, skip_special_tokens=True)]
        ref = [t.strip() for t in tok.batch_decode(labels, skip_special_tokens=True)]
        out = {"bleu": sacrebleu.corpus_bleu(hyp, [ref]).score}
        for k in ("rouge1", "rouge2", "rougeL"):
            out[k] = 100 * np.mean([scorer.score(r, h)[k].fmeasure for r, h in zip(ref, hyp)])
        out["gen_len"] = np.mean([np.count_nonzero(row != tok.pad_token_id) for row in preds])
        return out
    times = []
    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            times.append((state.global_step, time.time()))
    args = Seq2SeqTrainingArguments(output_dir=out + "/ckpt", max_steps=steps, per_device_train_batch_size=batch,
                                    per_device_eval_batch_size=batch * 2, learning_rate=5e-5, warmup_steps=0.1,
                                    weight_decay=0.01, report_to="none", disable_tqdm=True, save_strategy="no",
                                    logging_steps=1, use_cpu=True, dataloader_pin_memory=False, seed=42,
                                    predict_with_generate=True, generation_max_length=max_len)
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=ds["train"], eval_dataset=ds["test"],
                             processing_class=tok, data_collator=DataCollatorForSeq2Seq(tok, model=model),
                             compute_metrics=metrics, callbacks=[Clock()])
    trainer.train()
    t0 = time.time(); trainer.evaluate(); generating = time.time() - t0
    trainer.args.predict_with_generate = False
    trainer.compute_metrics = None
    t0 = time.time(); trainer.evaluate(); plain = time.time() - t0
    json.dump({"times": times, "eval_generate": generating, "eval_plain": plain}, open(out + "/times.json", "w"))
""")

QA_MAX_LEN, QA_STRIDE = 128, 32  # the job's QA windows (the spec's default stride)

# The course's / run_qa.py's way to train extractive QA, bare: windows with a stride, the answer's first and
# last token (or [CLS]), DataCollatorWithPadding; Trainer or a plain loop, as for classification above.
QA_BARE = textwrap.dedent("""
    import json, sys, time, torch
    from datasets import Dataset
    from transformers import (AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainerCallback, TrainingArguments, get_linear_schedule_with_warmup, set_seed)
    engine, model_dir, data, out, steps = sys.argv[1:6]
    BATCH, MAX_LEN, STRIDE, STEPS = {batch}, {max_len}, {stride}, int(steps)
    set_seed(42)
    tok = AutoTokenizer.from_pretrained(model_dir)
    rows = [json.loads(line) for line in open(data)]
    raw = Dataset.from_list(rows).train_test_split(test_size=0.2, seed=42)["train"]
    def windows(b):
        enc = tok([q.lstrip() for q in b["question"]], b["context"], truncation="only_second", max_length=MAX_LEN,
                  stride=STRIDE, return_overflowing_tokens=True, return_offsets_mapping=True)
        starts, ends = [], []
        for i, offsets in enumerate(enc.pop("offset_mapping")):
            answer = b["answers"][enc["overflow_to_sample_mapping"][i]]
            seq = enc.sequence_ids(i)
            first, last = seq.index(1), len(seq) - 1 - seq[::-1].index(1)
            s = e = 0
            if answer["answer_start"]:
                lo = answer["answer_start"][0]
                hi = lo + len(answer["text"][0])
                if offsets[first][0] <= lo and offsets[last][1] >= hi:
                    s = first
                    while s <= last and offsets[s][0] <= lo:
                        s += 1
                    e = last
                    while e >= first and offsets[e][1] >= hi:
                        e -= 1
                    s, e = s - 1, e + 1
            starts.append(s); ends.append(e)
        enc.pop("overflow_to_sample_mapping")
        return {{**enc, "start_positions": starts, "end_positions": ends}}
    ds = raw.map(windows, batched=True, remove_columns=raw.column_names)
    model = AutoModelForQuestionAnswering.from_pretrained(model_dir)
    collator = DataCollatorWithPadding(tok)
    times = []
    if engine == "trainer":
        class Clock(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                times.append((state.global_step, time.time()))
        args = TrainingArguments(output_dir=out + "/ckpt", max_steps=STEPS, per_device_train_batch_size=BATCH,
                                 learning_rate=5e-5, warmup_steps=0.1, weight_decay=0.01, report_to="none",
                                 disable_tqdm=True, save_strategy="no", logging_steps=1, use_cpu=True,
                                 dataloader_pin_memory=False, seed=42)
        Trainer(model=model, args=args, train_dataset=ds, processing_class=tok, data_collator=collator,
                callbacks=[Clock()]).train()
    else:
        generator = torch.Generator()
        generator.manual_seed(42)
        loader = torch.utils.data.DataLoader(ds, batch_size=BATCH, shuffle=True, collate_fn=collator,
                                             generator=generator)
        opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01, fused=True)
        sched = get_linear_schedule_with_warmup(opt, int(0.1 * STEPS), STEPS)
        model.train()
        for step, batch in enumerate(loader, 1):
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step(); sched.step(); opt.zero_grad(set_to_none=True)
            times.append((step, time.time()))
            if step == STEPS:
                break
    json.dump(times, open(out + "/times.json", "w"))
""").format(batch=BATCH, max_len=QA_MAX_LEN, stride=QA_STRIDE)


def steps_per_second(points: list[tuple[int, float]]) -> float:
    (s0, t0), (s1, t1) = points[0], points[-1]
    return (s1 - s0) / (t1 - t0)


def run_job(engine: str, root: Path) -> float:
    from tui_hf.core.training.events import EventReader
    from tui_hf.core.training.job import create_run
    from tui_hf.core.training.spec import DataSpec, TrainSpec
    from tui_hf.data import SENTIMENT_CSV

    spec = TrainSpec(
        data=DataSpec(train=str(SENTIMENT_CSV), max_length=MAX_LEN),
        engine=engine,
        max_steps=STEPS,
        batch_size=BATCH,
        logging_steps=1,
        device="cpu",
        seed=42,
    )
    run_dir = create_run(spec, root)
    subprocess.run([sys.executable, "-m", "tui_hf.train", str(run_dir)], check=True, capture_output=True)
    points = [(e["step"], e["time"]) for e in EventReader(run_dir).read() if e["event"] == "train"]
    return steps_per_second(points)


def run_bare(engine: str, root: Path) -> float:
    from tui_hf.core.hub import embedded_model_dir
    from tui_hf.data import SENTIMENT_CSV

    out = Path(tempfile.mkdtemp(dir=root))
    script = root / "bare.py"
    script.write_text(BARE)
    subprocess.run(
        [sys.executable, str(script), engine, str(embedded_model_dir()), str(SENTIMENT_CSV), str(out)],
        check=True,
        capture_output=True,
    )
    return steps_per_second([tuple(p) for p in json.loads((out / "times.json").read_text())])


def run_job_qa(engine: str, root: Path, steps: int) -> float:
    from tui_hf.core.training.events import EventReader
    from tui_hf.core.training.job import create_run
    from tui_hf.core.training.spec import DataSpec, TrainSpec
    from tui_hf.data import QA_JSONL

    spec = TrainSpec(
        data=DataSpec(train=str(QA_JSONL), max_length=QA_MAX_LEN, doc_stride=QA_STRIDE),
        task="question-answering",
        engine=engine,
        max_steps=steps,
        batch_size=BATCH,
        logging_steps=1,
        device="cpu",
        seed=42,
    )
    run_dir = create_run(spec, root)
    subprocess.run([sys.executable, "-m", "tui_hf.train", str(run_dir)], check=True, capture_output=True)
    points = [(e["step"], e["time"]) for e in EventReader(run_dir).read() if e["event"] == "train"]
    return steps_per_second(points)


def run_bare_qa(engine: str, root: Path, steps: int) -> float:
    from tui_hf.core.hub import embedded_model_dir
    from tui_hf.data import QA_JSONL

    out = Path(tempfile.mkdtemp(dir=root))
    script = root / "bare_qa.py"
    script.write_text(QA_BARE)
    subprocess.run(
        [sys.executable, str(script), engine, str(embedded_model_dir()), str(QA_JSONL), str(out), str(steps)],
        check=True,
        capture_output=True,
    )
    return steps_per_second([tuple(p) for p in json.loads((out / "times.json").read_text())])


async def key_latency(with_job: bool, root: Path, keys: int = 20) -> float:
    from tui_hf.core.training.job import create_run, launch, stop
    from tui_hf.core.training.spec import DataSpec, TrainSpec
    from tui_hf.data import SENTIMENT_CSV

    run_dir, pid = None, 0
    if with_job:
        spec = TrainSpec(
            data=DataSpec(train=str(SENTIMENT_CSV), max_length=MAX_LEN), engine="native", epochs=50, device="cpu"
        )
        run_dir = create_run(spec, root)
        pid = launch(run_dir)
        first_train_event(run_dir)  # past imports and loading: the job is stepping
    try:
        return statistics.median(await typing_latencies(root, keys))
    finally:
        if run_dir is not None:
            stop(run_dir)
            reap(pid)


async def typing_latencies(root: Path, keys: int) -> list[float]:
    from textual.widgets import TextArea

    from tui_hf.ui.app import AppSettings, make_app

    edited: list[float] = []

    def hook(message: object) -> None:
        if isinstance(message, TextArea.Changed):
            edited.append(time.perf_counter())

    app = make_app(AppSettings(text="typing while training", runs_dir=root, log_path=root / "tui-hf.log"))
    latencies = []
    async with app.run_test(size=(160, 48), message_hook=hook) as pilot:
        while app.tokenizer is None:
            await pilot.pause(0.1)
        app.query_one("#input-text", TextArea).focus()
        for _ in range(keys):
            edited.clear()
            t = time.perf_counter()
            await pilot.press("x")
            while not edited:
                await asyncio.sleep(0.0005)
            latencies.append(edited[0] - t)
            await pilot.pause(0.1)
    return latencies


def first_train_event(run_dir: Path, timeout: float = 300) -> None:
    """Wait until the job has written its first train event (it is past imports and loading, and stepping)."""
    from tui_hf.core.training.events import EventReader

    reader, deadline = EventReader(run_dir), time.monotonic() + timeout
    while not any(e.get("event") == "train" for e in reader.read()):
        if time.monotonic() > deadline:
            raise SystemExit(f"{run_dir}: no train event within {timeout:.0f} s (see its train.log)")
        time.sleep(0.2)


def reap(pid: int, timeout: float = 120) -> None:
    """Wait for a job we started to exit (it saves a checkpoint first); kill it past `timeout`."""
    import os
    import signal

    deadline = time.monotonic() + timeout
    while not os.waitpid(pid, os.WNOHANG)[0]:
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return
        time.sleep(0.2)


def run_seq2seq_job(model: str, root: Path, steps: int, batch: int, max_len: int) -> tuple[float, float]:
    """Steps/s of a seq2seq job (Trainer engine), and its last evaluation's time: from its last train event to
    its eval event (generation and scoring; predictions off)."""
    from tui_hf.core.training.events import EventReader
    from tui_hf.core.training.job import create_run
    from tui_hf.core.training.spec import DataSpec, TrainSpec
    from tui_hf.data import HEADLINES_JSONL

    spec = TrainSpec(
        data=DataSpec(train=str(HEADLINES_JSONL), text_column="source", max_length=max_len, source_prefix=""),
        model=model,
        task="seq2seq",
        max_steps=steps,
        batch_size=batch,
        logging_steps=1,
        device="cpu",
        seed=42,
        predictions=0,
    )
    run_dir = create_run(spec, root)
    subprocess.run([sys.executable, "-m", "tui_hf.train", str(run_dir)], check=True, capture_output=True)
    events = [e for e in EventReader(run_dir).read() if not e.get("replay")]
    train = [(e["step"], e["time"]) for e in events if e["event"] == "train"]
    last_eval = [e["time"] for e in events if e["event"] == "eval"][-1]
    return steps_per_second(train), last_eval - train[-1][1]


def run_seq2seq_bare(model: str, root: Path, steps: int, batch: int, max_len: int) -> tuple[float, float, float]:
    from tui_hf.data import HEADLINES_JSONL

    out = Path(tempfile.mkdtemp(dir=root))
    script = root / "bare_s2s.py"
    script.write_text(BARE_S2S)
    argv = [model, str(HEADLINES_JSONL), str(out), str(steps), str(batch), str(max_len)]
    subprocess.run([sys.executable, str(script), *argv], check=True, capture_output=True)
    got = json.loads((out / "times.json").read_text())
    return steps_per_second([tuple(p) for p in got["times"]]), got["eval_generate"], got["eval_plain"]


def measure_seq2seq(args: argparse.Namespace, root: Path) -> None:
    steps, batch, max_len = args.seq2seq_steps, 8, args.seq2seq_max_length
    bare, job, bare_gen, job_gen, plain = [], [], [], [], []
    for _ in range(args.repeat):  # interleaved
        b, g, p = run_seq2seq_bare(args.seq2seq, root, steps, batch, max_len)
        j, jg = run_seq2seq_job(args.seq2seq, root, steps, batch, max_len)
        bare.append(b), bare_gen.append(g), plain.append(p), job.append(j), job_gen.append(jg)
    med = statistics.median
    print(
        f"\nseq2seq ({args.seq2seq}, headlines, {steps} steps, batch {batch}, max length {max_len}), "
        f"Trainer engine vs a bare Seq2SeqTrainer script, median of {args.repeat}"
    )
    print(f"  steps/s     bare {med(bare):8.3f}   job {med(job):8.3f}   step time job/bare {med(bare) / med(job):6.3f}")
    print(
        f"  evaluation  bare with generate {med(bare_gen):7.2f} s   job with generate {med(job_gen):7.2f} s   "
        f"Seq2SeqTrainer.evaluate without generate {med(plain):7.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--engines", default="trainer,native", help="comma-separated: trainer, native")
    parser.add_argument("--no-ui", action="store_true", help="skip the key-latency part")
    parser.add_argument("--seq2seq", metavar="MODEL", help="also the seq2seq row, with this model (e.g. t5-small)")
    parser.add_argument("--seq2seq-steps", type=int, default=20)
    parser.add_argument("--seq2seq-max-length", type=int, default=64)
    parser.add_argument("--only-seq2seq", action="store_true", help="the seq2seq row alone")
    parser.add_argument(
        "--qa-steps", type=int, default=STEPS, help="steps of the question-answering rows (0: leave them out)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tui-hf-bench-") as tmp:
        measure(args, Path(tmp))


def measure(args: argparse.Namespace, root: Path) -> None:
    if args.seq2seq:
        measure_seq2seq(args, root)
        if args.only_seq2seq:
            return
    print(
        f"steps/s over one epoch ({STEPS} steps, batch {BATCH}, max length {MAX_LEN}), all-MiniLM-L6-v2 on CPU, "
        f"median of {args.repeat}"
    )
    print(f"  {'engine':<9} {'bare':>8} {'job':>8} {'job/bare':>9}")
    for engine in args.engines.split(","):
        bare, job = [], []
        for _ in range(args.repeat):  # interleaved
            bare.append(run_bare(engine, root))
            job.append(run_job(engine, root))
        b, j = statistics.median(bare), statistics.median(job)
        print(f"  {engine:<9} {b:8.3f} {j:8.3f} {j / b:9.3f}")
    if args.qa_steps > 0:
        print(
            f"\nquestion-answering (qa_people.jsonl, windows of {QA_MAX_LEN} tokens, stride {QA_STRIDE}): steps/s "
            f"over {args.qa_steps} steps, job vs a bare run_qa.py-style script, median of {args.repeat}"
        )
        print(f"  {'engine':<9} {'bare':>8} {'job':>8} {'job/bare':>9}")
        for engine in args.engines.split(","):
            bare, job = [], []
            for _ in range(args.repeat):  # interleaved
                bare.append(run_bare_qa(engine, root, args.qa_steps))
                job.append(run_job_qa(engine, root, args.qa_steps))
            b, j = statistics.median(bare), statistics.median(job)
            print(f"  {engine:<9} {b:8.3f} {j:8.3f} {j / b:9.3f}")
    if args.no_ui:
        return
    idle = asyncio.run(key_latency(False, root))
    busy = asyncio.run(key_latency(True, root))
    print("\nUI key latency (key press to the edit handled, median of 20; with a job: from its first train event)")
    print(f"  no job            {idle * 1e3:7.1f} ms")
    print(f"  job training      {busy * 1e3:7.1f} ms   (same machine, 2 cores)")


if __name__ == "__main__":
    main()
