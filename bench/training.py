"""Training throughput of a tui-hf job vs a bare script, per engine, and UI key latency while a job trains.

Same model (the embedded all-MiniLM-L6-v2), data (the shipped sentiment.csv), batch size, max length and
seed on both sides. Steps/s is measured over the steps of the first epoch (between the step-1 and the
last step's timestamps), so start-up and the epoch-end checkpoint are outside the window on both sides.
Usage: python bench/training.py [--repeat N] [--families tc,pairs,ner,mlm,clm,qa,s2s] [--steps N]
       [--seq2seq MODEL [--only-seq2seq]]

The family rows (pairs, ner, mlm, clm) put a job beside a bare course-style script of the same family (the
same model, data, batch, max length and seed): sentence pairs (the shipped paraphrase.csv, the tokenizer's
pairs), token classification (run_ner.py's way: a word's tag on its first sub-token,
DataCollatorForTokenClassification; on generated name/place sentences), masked-lm (run_mlm.py's group_texts
blocks, DataCollatorForLanguageModeling at 0.15: the job draws masks per batch, seeded, which costs the
same) and causal-lm (blocks, mlm=False; a GPT-2 built here offline with the embedded model's tokenizer, or
--clm-model). The final table gives, per family and engine, the median step time of the job and of the
bare script over the same steps (step 2 on: start-up is outside, and the median keeps an epoch-end
evaluation or checkpoint out) and their ratio, job / bare: the median of each interleaved repeat's ratio,
with every repeat's ratio beside it (the spread).

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
from typing import Any

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


# The family rows' bare scripts: a common head, the family's own data preparation (course / run_*.py style,
# defining ds, model and collator), and a common training part, Trainer or a plain loop as above.
FAMILY_HEAD = textwrap.dedent("""
    import json, sys, time, torch
    from datasets import load_dataset
    from transformers import (AutoTokenizer, Trainer, TrainerCallback, TrainingArguments,
                              get_linear_schedule_with_warmup, set_seed)
    engine, model_dir, data, out = sys.argv[1:5]
    STEPS, BATCH, MAX_LEN = map(int, sys.argv[5:8])
    set_seed(42)
    tok = AutoTokenizer.from_pretrained(model_dir)
    raw = load_dataset(data.rsplit(".", 1)[-1].replace("jsonl", "json"), data_files=data)["train"]
    raw = raw.train_test_split(test_size=0.2, seed=42)["train"]
""")

FAMILY_PREP = {
    "pairs": textwrap.dedent("""
        from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding
        names = sorted(set(raw["label"]))
        ds = raw.map(lambda b: {**tok(b["sentence1"], b["sentence2"], truncation=True, max_length=MAX_LEN),
                                "labels": [names.index(l) for l in b["label"]]}, batched=True,
                     remove_columns=raw.column_names)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=len(names))
        collator = DataCollatorWithPadding(tok)
    """),
    "ner": textwrap.dedent("""
        from transformers import AutoModelForTokenClassification, DataCollatorForTokenClassification
        names = sorted({t for tags in raw["tags"] for t in tags})
        def align(b):  # run_ner.py: a word's tag on its first sub-token, -100 on the others and the specials
            enc = tok(b["tokens"], is_split_into_words=True, truncation=True, max_length=MAX_LEN)
            enc["labels"] = []
            for i, tags in enumerate(b["tags"]):
                previous, row = None, []
                for word in enc.word_ids(i):
                    row.append(-100 if word is None or word == previous else names.index(tags[word]))
                    previous = word
                enc["labels"].append(row)
            return enc
        ds = raw.map(align, batched=True, remove_columns=raw.column_names)
        model = AutoModelForTokenClassification.from_pretrained(model_dir, num_labels=len(names))
        collator = DataCollatorForTokenClassification(tok)
    """),
    "mlm": textwrap.dedent("""
        from transformers import AutoModelForMaskedLM, DataCollatorForLanguageModeling
        def group_texts(b):  # run_mlm.py: texts joined, cut into MAX_LEN blocks, the remainder dropped
            joined = {k: sum(b[k], []) for k in b}
            end = len(joined["input_ids"]) // MAX_LEN * MAX_LEN
            return {k: [v[i:i + MAX_LEN] for i in range(0, end, MAX_LEN)] for k, v in joined.items()}
        ds = raw.map(lambda b: tok(b["text"], return_special_tokens_mask=True), batched=True,
                     remove_columns=raw.column_names).map(group_texts, batched=True)
        model = AutoModelForMaskedLM.from_pretrained(model_dir)
        collator = DataCollatorForLanguageModeling(tok, mlm_probability=0.15)
    """),
    "clm": textwrap.dedent("""
        from transformers import AutoModelForCausalLM, DataCollatorForLanguageModeling
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        def group_texts(b):  # run_clm.py: texts joined, cut into MAX_LEN blocks, the remainder dropped
            joined = {k: sum(b[k], []) for k in b}
            end = len(joined["input_ids"]) // MAX_LEN * MAX_LEN
            return {k: [v[i:i + MAX_LEN] for i in range(0, end, MAX_LEN)] for k, v in joined.items()}
        ds = raw.map(lambda b: tok(b["text"]), batched=True, remove_columns=raw.column_names).map(
            group_texts, batched=True)
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        collator = DataCollatorForLanguageModeling(tok, mlm=False)
    """),
}

FAMILY_TRAIN = textwrap.dedent("""
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
        # The job's batch order: its sampler is seeded with seed + epoch, so padded lengths match step for step.
        generator = torch.Generator()
        loader = torch.utils.data.DataLoader(ds, batch_size=BATCH, shuffle=True, collate_fn=collator,
                                             generator=generator)
        opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01, fused=True)
        sched = get_linear_schedule_with_warmup(opt, int(0.1 * STEPS), STEPS)
        model.train()
        step, epoch = 0, 0
        while step < STEPS:
            generator.manual_seed(42 + epoch)
            for batch in loader:
                loss = model(**batch).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step(); sched.step(); opt.zero_grad(set_to_none=True)
                step += 1
                times.append((step, time.time()))
                if step == STEPS:
                    break
            epoch += 1
    json.dump(times, open(out + "/times.json", "w"))
""")

FAMILY_TITLES = {
    "pairs": "sentence pairs (paraphrase.csv), a bare course-style script",
    "ner": "token classification (generated name/place sentences), a bare run_ner.py-style script",
    "mlm": "masked-lm (sentiment.csv texts in blocks), a bare run_mlm.py-style script",
    "clm": "causal-lm (sentiment.csv texts in blocks), a bare run_clm.py-style script",
}
ALL_FAMILIES = ("tc", "pairs", "ner", "mlm", "clm", "qa", "s2s")


def ner_data(root: Path) -> Path:
    """Sentences of a name, a verb and a place, tagged B-PER/I-PER/O/B-LOC/I-LOC: 320 rows (256 train), built
    the same on every run (no NER data ships with tui-hf)."""
    import itertools
    import random

    people = [["Anna"], ["Sylvain"], ["Maria", "Lopez"], ["Kenji"], ["Olu", "Adeyemi"], ["Ruth"], ["Ivan", "Petrov"]]
    places = [["Paris"], ["New", "York"], ["Lagos"], ["Kyoto"], ["Rio", "de", "Janeiro"], ["Berlin"], ["Oslo"]]
    verbs = [["lives", "in"], ["visited"], ["flew", "to"], ["was", "born", "in"], ["works", "near"]]
    ends = [[], ["today"], ["last", "year"], ["with", "her", "family"], ["again"]]

    def span(words: list[str], kind: str) -> list[str]:
        return [f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1)

    combos = list(itertools.product(people, verbs, places, ends))
    random.Random(42).shuffle(combos)
    path = root / "ner.jsonl"
    with path.open("w") as f:
        for who, verb, where, end in combos[:320]:
            tokens = who + verb + where + end
            tags = span(who, "PER") + ["O"] * len(verb) + span(where, "LOC") + ["O"] * len(end)
            f.write(json.dumps({"tokens": tokens, "tags": tags}) + "\n")
    return path


def tiny_gpt2(root: Path) -> Path:
    """A GPT-2 of about MiniLM's size (6 layers, 384 wide), random, with the embedded model's tokenizer: built
    here, offline, once per bench run."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel
    from transformers.utils.logging import disable_progress_bar

    from tui_hf.core.hub import embedded_model_dir

    path = root / "gpt2-bench"
    if path.exists():
        return path
    disable_progress_bar()  # save_pretrained's bar would land amid the printed rows
    tok = AutoTokenizer.from_pretrained(str(embedded_model_dir()))
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tok),
        n_embd=384,
        n_layer=6,
        n_head=6,
        n_positions=512,
        bos_token_id=tok.cls_token_id,
        eos_token_id=tok.sep_token_id,
        pad_token_id=tok.pad_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def family_setup(family: str, root: Path, clm_model: str | None) -> tuple[str, Path, Any]:
    """The family's model (a directory or hub id, the same on both sides), its data file, and the job's spec
    fields (task and data) as keyword arguments of TrainSpec."""
    from tui_hf.core.hub import embedded_model_dir
    from tui_hf.core.training.spec import DataSpec
    from tui_hf.data import PARAPHRASE_CSV, SENTIMENT_CSV

    embedded = str(embedded_model_dir())
    if family == "pairs":
        data = PARAPHRASE_CSV
        fields = {
            "data": DataSpec(train=str(data), text_column="sentence1", text_pair_column="sentence2", max_length=MAX_LEN)
        }
        return embedded, data, fields
    if family == "ner":
        data = ner_data(root)
        fields = {
            "task": "token-classification",
            "data": DataSpec(train=str(data), text_column="tokens", label_column="tags", max_length=MAX_LEN),
        }
        return embedded, data, fields
    data = SENTIMENT_CSV
    fields = {
        "task": "masked-lm" if family == "mlm" else "causal-lm",
        "data": DataSpec(train=str(data), max_length=MAX_LEN),
    }
    model = embedded if family == "mlm" else clm_model or str(tiny_gpt2(root))
    return model, data, fields


def run_job_family(family: str, engine: str, root: Path, steps: int, clm_model: str | None) -> list[Point]:
    from tui_hf.core.training.job import create_run
    from tui_hf.core.training.spec import TrainSpec

    model, _, fields = family_setup(family, root, clm_model)
    spec = TrainSpec(
        model=model, engine=engine, max_steps=steps, batch_size=BATCH, logging_steps=1, device="cpu", seed=42, **fields
    )
    return job_points(create_run(spec, root))


def run_bare_family(family: str, engine: str, root: Path, steps: int, clm_model: str | None) -> list[Point]:
    model, data, _ = family_setup(family, root, clm_model)
    out = Path(tempfile.mkdtemp(dir=root))
    script = root / f"bare_{family}.py"
    script.write_text(FAMILY_HEAD + FAMILY_PREP[family] + FAMILY_TRAIN)
    argv = [engine, model, str(data), str(out), str(steps), str(BATCH), str(MAX_LEN)]
    subprocess.run([sys.executable, str(script), *argv], check=True, capture_output=True)
    return [tuple(p) for p in json.loads((out / "times.json").read_text())]


def job_points(run_dir: Path) -> list[Point]:
    """Run the job to its end in the foreground; its (step, time) of each train event."""
    from tui_hf.core.training.events import EventReader

    subprocess.run([sys.executable, "-m", "tui_hf.train", str(run_dir)], check=True, capture_output=True)
    events = [e for e in EventReader(run_dir).read() if not e.get("replay")]
    return [(e["step"], e["time"]) for e in events if e["event"] == "train"]


Point = tuple[int, float]
# family, engine, the job's ms/step and the bare script's, one pair per interleaved repeat
Row = tuple[str, str, list[float], list[float]]


def step_ms(points: list[Point]) -> float:
    """The median step time in ms from step 2 on: the same steps on both sides; a slow step now and then (an
    epoch's end: the job evaluates and checkpoints there) moves it little."""
    return 1e3 * statistics.median((t1 - t0) / (s1 - s0) for (s0, t0), (s1, t1) in zip(points, points[1:]))


def measure_family(family: str, args: argparse.Namespace, root: Path, table: list[Row]) -> None:
    print(
        f"\n{FAMILY_TITLES[family]} vs a job: median ms/step over {args.steps} steps (batch {BATCH}, max length "
        f"{MAX_LEN}), median of {args.repeat}"
    )
    print(f"  {'engine':<9} {'bare':>8} {'job':>8} {'job/bare':>9}")
    for engine in args.engines.split(","):
        bare, job = [], []
        for _ in range(args.repeat):  # interleaved
            bare.append(step_ms(run_bare_family(family, engine, root, args.steps, args.clm_model)))
            job.append(step_ms(run_job_family(family, engine, root, args.steps, args.clm_model)))
        table.append((family, engine, job, bare))
        print(
            f"  {engine:<9} {statistics.median(bare):8.1f} {statistics.median(job):8.1f} {pair_ratio(job, bare):9.3f}"
        )


def pair_ratio(job: list[float], bare: list[float]) -> float:
    """The median of each repeat's job/bare ratio: the two sides of a pair ran back to back, and this machine's
    speed drifts by a tenth or more between minutes, which a ratio of two medians would mix in."""
    return statistics.median(j / b for j, b in zip(job, bare))


def print_table(table: list[Row]) -> None:
    print("\nper family and engine: median step time, job vs bare (ratio goal: at most 1.03)")
    print(
        f"  {'family':<7} {'engine':<8} {'job ms/step':>12} {'bare ms/step':>13} {'job/bare':>9}  "
        "each repeat's job/bare"
    )
    for family, engine, job, bare in table:
        each = " ".join(f"{j / b:.3f}" for j, b in zip(job, bare))
        print(
            f"  {family:<7} {engine:<8} {statistics.median(job):12.1f} {statistics.median(bare):13.1f} "
            f"{pair_ratio(job, bare):9.3f}  {each}"
        )


def steps_per_second(points: list[tuple[int, float]]) -> float:
    (s0, t0), (s1, t1) = points[0], points[-1]
    return (s1 - s0) / (t1 - t0)


def run_job(engine: str, root: Path) -> list[Point]:
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
    return job_points(create_run(spec, root))


def run_bare(engine: str, root: Path) -> list[Point]:
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
    return [tuple(p) for p in json.loads((out / "times.json").read_text())]


def run_job_qa(engine: str, root: Path, steps: int) -> list[Point]:
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
    return job_points(create_run(spec, root))


def run_bare_qa(engine: str, root: Path, steps: int) -> list[Point]:
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
    return [tuple(p) for p in json.loads((out / "times.json").read_text())]


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


def run_seq2seq_job(model: str, root: Path, steps: int, batch: int, max_len: int) -> tuple[list[Point], float]:
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
    return train, last_eval - train[-1][1]


def run_seq2seq_bare(model: str, root: Path, steps: int, batch: int, max_len: int) -> tuple[list[Point], float, float]:
    from tui_hf.data import HEADLINES_JSONL

    out = Path(tempfile.mkdtemp(dir=root))
    script = root / "bare_s2s.py"
    script.write_text(BARE_S2S)
    argv = [model, str(HEADLINES_JSONL), str(out), str(steps), str(batch), str(max_len)]
    subprocess.run([sys.executable, str(script), *argv], check=True, capture_output=True)
    got = json.loads((out / "times.json").read_text())
    return [tuple(p) for p in got["times"]], got["eval_generate"], got["eval_plain"]


def measure_seq2seq(args: argparse.Namespace, root: Path, table: list[Row]) -> None:
    steps, batch, max_len = args.seq2seq_steps, 8, args.seq2seq_max_length
    bare, job, bare_gen, job_gen, plain, bare_ms, job_ms = [], [], [], [], [], [], []
    for _ in range(args.repeat):  # interleaved
        b, g, p = run_seq2seq_bare(args.seq2seq, root, steps, batch, max_len)
        j, jg = run_seq2seq_job(args.seq2seq, root, steps, batch, max_len)
        bare.append(steps_per_second(b)), bare_gen.append(g), plain.append(p)
        job.append(steps_per_second(j)), job_gen.append(jg)
        bare_ms.append(step_ms(b)), job_ms.append(step_ms(j))
    med = statistics.median
    table.append(("s2s", "trainer", job_ms, bare_ms))
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
    parser.add_argument(
        "--families",
        default=",".join(ALL_FAMILIES),
        help="comma-separated rows: tc (sentiment), pairs, ner, mlm, clm, qa, s2s (s2s needs --seq2seq)",
    )
    parser.add_argument("--steps", type=int, default=STEPS, help="steps of the pairs, ner, mlm and clm rows")
    parser.add_argument("--clm-model", metavar="MODEL", help="the causal-lm row's model (default: a GPT-2 built here)")
    args = parser.parse_args()
    args.families = args.families.split(",")
    unknown = sorted(set(args.families) - set(ALL_FAMILIES))
    if unknown:
        parser.error(f"unknown families {','.join(unknown)}: choose from {','.join(ALL_FAMILIES)}")
    with tempfile.TemporaryDirectory(prefix="tui-hf-bench-") as tmp:
        measure(args, Path(tmp))


def measure(args: argparse.Namespace, root: Path) -> None:
    table: list[Row] = []
    if args.seq2seq and "s2s" in args.families:
        measure_seq2seq(args, root, table)
        if args.only_seq2seq:
            print_table(table)
            return
    if "tc" in args.families:
        measure_sentiment(args, root, table)
    if args.qa_steps > 0 and "qa" in args.families:
        measure_qa(args, root, table)
    for family in FAMILY_PREP:
        if family in args.families:
            measure_family(family, args, root, table)
    print_table(table)
    if args.no_ui:
        return
    idle = asyncio.run(key_latency(False, root))
    busy = asyncio.run(key_latency(True, root))
    print("\nUI key latency (key press to the edit handled, median of 20; with a job: from its first train event)")
    print(f"  no job            {idle * 1e3:7.1f} ms")
    print(f"  job training      {busy * 1e3:7.1f} ms   (same machine, 2 cores)")


def measure_sentiment(args: argparse.Namespace, root: Path, table: list[Row]) -> None:
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
        b, j = statistics.median(map(steps_per_second, bare)), statistics.median(map(steps_per_second, job))
        table.append(("tc", engine, [step_ms(p) for p in job], [step_ms(p) for p in bare]))
        print(f"  {engine:<9} {b:8.3f} {j:8.3f} {j / b:9.3f}")


def measure_qa(args: argparse.Namespace, root: Path, table: list[Row]) -> None:
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
        b, j = statistics.median(map(steps_per_second, bare)), statistics.median(map(steps_per_second, job))
        table.append(("qa", engine, [step_ms(p) for p in job], [step_ms(p) for p in bare]))
        print(f"  {engine:<9} {b:8.3f} {j:8.3f} {j / b:9.3f}")


if __name__ == "__main__":
    main()
