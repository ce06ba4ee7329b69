"""A run as a standalone training script: `tui-hf export RUN --script train.py`.

The script does what the job does, from the run's spec.json, without importing tui_hf: the same data files read
the same way (columns, label names, the validation split from the seed), the same tokenization and collator, the
model with the task's head and the run's labels, the same metrics, and `Trainer` + `TrainingArguments` or the
native loop (AdamW without decay on biases and norms, a linear schedule with warmup, clipping), seeded as the
job seeds. Before the first step it evaluates, as the job does, so the curve starts where the run's did and the
random numbers line up: step 1 trains on the same batch with the same dropout, and logs the same loss.

Left out, because they need the job: the cockpit's sentinel (alerts on loss spikes, exploding gradients,
stalls), the batch X-ray, steering (save, evaluate, stop or early-stop requests from a viewer), predictions at
each evaluation, the events file, checkpoints' atomic commit and resume. The script prints one JSON line per
log and evaluation and saves the model to OUTPUT_DIR/final.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from tui_hf.core.training.spec import TrainSpec

LEFT_OUT = (
    "the cockpit's sentinel (alerts on loss spikes, exploding gradients, stalls), the batch X-ray, steering "
    "(save, evaluate, stop, early-stop requests), predictions at each evaluation, events.jsonl, resume"
)
HEADS = {
    "text-classification": "AutoModelForSequenceClassification",
    "token-classification": "AutoModelForTokenClassification",
    "causal-lm": "AutoModelForCausalLM",
    "masked-lm": "AutoModelForMaskedLM",
}
COLLATORS = {
    "text-classification": "DataCollatorWithPadding(tokenizer)",
    "token-classification": "DataCollatorForTokenClassification(tokenizer)",
    "causal-lm": "DataCollatorForLanguageModeling(tokenizer, mlm=False)",
    "masked-lm": "DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)",
}
UNLABELLED = ("causal-lm", "masked-lm")


def run_labels(run_dir: Path) -> list[str]:
    """The labels in the order the run trained them: its start event's, else its data plan's."""
    from tui_hf.core.training.events import read_state
    from tui_hf.core.training.preflight import DATA_PLAN, DataPlan

    state = read_state(run_dir)
    if state.labels:
        return list(state.labels)
    plan = DataPlan.load(run_dir / DATA_PLAN)
    return list(plan.labels) if plan is not None else []


def model_location(spec: TrainSpec) -> tuple[str, str]:
    """Where the script loads the model from (a directory or a hub id) and a comment for it."""
    from tui_hf.core.errors import ModelLoadError
    from tui_hf.core.hub import parse_ref

    try:
        ref = parse_ref(spec.model)
    except ModelLoadError:
        return spec.model, "  # not found when this was written: point it at the model"
    if ref.kind == "embedded":
        return ref.location, "  # the embedded all-MiniLM-L6-v2 (on the Hub: sentence-transformers/all-MiniLM-L6-v2)"
    return ref.location, ""


def training_script(spec: TrainSpec, labels: list[str], run_name: str = "") -> str:
    """The script for `spec`; `labels` in the run's order (empty: the script derives them as the job does)."""
    model, model_note = model_location(spec)
    d = spec.data
    task = spec.task
    title = "all-MiniLM-L6-v2 (embedded)" if "the embedded" in model_note else spec.model
    lines = [
        f'"""Finetune {title} for {task} with the {spec.engine} engine, as tui-hf run {run_name or "RUN"} did',
        "(its spec.json), without tui-hf.",
        "",
        *textwrap.wrap(f"Left out (they need tui-hf's job): {LEFT_OUT}.", 110),
        'It prints one JSON line per log and evaluation and saves the model to OUTPUT_DIR/final."""',
        "# transformers 5 has no TensorFlow classes (TFTrainer, TFAutoModel... are gone): this is the PyTorch path.",
        *(["import csv"] if _local(spec) else []),
        *(["import hashlib"] if task == "masked-lm" else []),
        "import json",
        *(["import math"] if spec.engine == "native" or task in UNLABELLED else []),
        *(["from array import array"] if task == "masked-lm" else []),
        "",
        *_imports(spec),
        "",
        *_assign("MODEL", model, model_note.strip(" #")),
        *_assign("TRAIN_FILE", d.train, "" if _local(spec) else _source(spec)),
        *_assign(
            "VALIDATION_FILE",
            d.validation,
            "" if d.validation else f"None: {d.validation_fraction:g} of the train rows, split off with the seed",
        ),
        f"TEXT_COLUMN = {d.text_column!r}",
        *([f"TEXT_PAIR_COLUMN = {d.text_pair_column!r}  # sentence pairs"] if d.text_pair_column else []),
    ]
    if task not in UNLABELLED:
        lines.append(f"LABEL_COLUMN = {d.label_column!r}")
        lines.append(
            f"LABELS = {labels!r}  # class ids in the run's order"
            if labels
            else "LABELS = None  # from the data: numeric order when every label is a number, else sorted"
        )
    lines += [
        f"MAX_LENGTH = {d.max_length}",
        f"SEED = {spec.seed}",
        'OUTPUT_DIR = "finetuned"',
        "",
        "set_seed(SEED)  # before anything draws a random number: the new head's weights come from it",
        "",
        "",
        *_reader(spec),
        "",
        "",
        *_data(spec),
        "",
        *_model(spec),
        "",
        "",
    ]
    lines += _trainer(spec) if spec.engine == "trainer" else _native(spec)
    return "\n".join(lines) + "\n"


def _imports(spec: TrainSpec) -> list[str]:
    names = {"AutoTokenizer", HEADS[spec.task], COLLATORS[spec.task].split("(")[0], "set_seed"}
    if spec.engine == "trainer":
        names |= {"PrinterCallback", "Trainer", "TrainerCallback", "TrainingArguments"}
    else:
        names.add("get_linear_schedule_with_warmup")
    imports = ["import numpy as np"] if spec.task not in UNLABELLED else []
    hub = "" if _local(spec) else ", load_from_disk" if _saved(spec) else ", load_dataset"
    imports += ["import torch"] if spec.engine == "native" or spec.task == "masked-lm" else []
    imports += [f"from datasets import Dataset, DatasetDict{hub}"]
    if spec.engine == "native":
        imports.append("from torch.utils.data import DataLoader")
    return imports + _wrapped("from transformers import ", sorted(names))


def _local(spec: TrainSpec) -> bool:
    from tui_hf.core.training.datafile import is_file_ref

    return is_file_ref(spec.data.train)


def _saved(spec: TrainSpec) -> bool:
    from tui_hf.core.training.datafile import is_saved_dataset

    return is_saved_dataset(spec.data.train)


def _assign(name: str, value: object, note: str) -> list[str]:
    """`NAME = value  # note` on one line, or the note on the line above when a long value (a user's path)
    would take the line past the 120 columns the scripts are written to."""
    line = f"{name} = {value!r}"
    if not note:
        return [line]
    if len(line) + len(note) + 4 > 120:
        return [f"# {note}", line]
    return [f"{line}  # {note}"]


def _source(spec: TrainSpec) -> str:
    return "a dataset saved with save_to_disk" if _saved(spec) else "a hub dataset"


def _wrapped(head: str, names: list[str]) -> list[str]:
    line = head + ", ".join(names)
    if len(line) <= 120:
        return [line]
    return [head + "("] + [f"    {n}," for n in names] + [")"]


_FILE_READER = [
    "def read_rows(path):",
    '    """The file\'s rows as dicts: CSV (a header row), JSON Lines, or one JSON array."""',
    '    if path.lower().endswith(".csv"):',
    '        with open(path, newline="", encoding="utf-8-sig") as fh:',
    "            reader = csv.reader(fh)",
    "            header = [h.strip() for h in next(reader)]",
    "            return [dict(zip(header, row)) for row in reader if any(cell.strip() for cell in row)]",
    '    with open(path, encoding="utf-8-sig") as fh:',
    "        text = fh.read()",
    '    if text.lstrip().startswith("["):',
    "        return json.loads(text)",
    "    return [json.loads(line) for line in text.splitlines() if line.strip()]",
]
_SPLIT_READER = [
    "def read_split(split):",
    '    """A split\'s rows as dicts, class ids (ClassLabel columns) as their names."""',
    "    rows = split.to_list()",
    "    for column, feature in split.features.items():",
    '        names = getattr(feature, "names", None) or getattr(getattr(feature, "feature", None), "names", None)',
    "        for row in rows if names else []:",
    "            value = row[column]",
    "            row[column] = [names[v] for v in value] if isinstance(value, list) else names[value]",
    "    return rows",
]
_LABEL_NAME = [
    "def label_name(value):",
    '    """A label\'s class name: integers (3, "3", 3.0) as their decimal text, text as written."""',
    "    if isinstance(value, bool):",
    "        return str(value).lower()",
    "    if isinstance(value, (int, float)):",
    "        return str(int(value))",
    "    text = str(value).strip()",
    "    try:",
    "        number = float(text)",
    "    except ValueError:",
    "        return text",
    '    return text if text.lstrip("-").isdigit() or not number.is_integer() else str(int(number))',
]


def _reader(spec: TrainSpec) -> list[str]:
    """Rows as tui-hf's data check reads them (CSV with a header and maybe a BOM, JSON Lines, a JSON array; or a
    hub dataset's split), labels named as the run named them (1, "1" and 1.0 are class "1")."""
    d = spec.data
    if _local(spec):
        out = list(_FILE_READER)
    else:
        load = "load_from_disk(TRAIN_FILE)" if _saved(spec) else "load_dataset(TRAIN_FILE, HUB_CONFIG)"
        out = [
            *([] if _saved(spec) else [f"HUB_CONFIG = {d.hub_config!r}"]),
            f"HUB_SPLIT = {d.hub_split!r}  # trained on; the dataset's validation split validates when it has one",
            f"SPLITS = {load}",
            'SPLITS = SPLITS if isinstance(SPLITS, DatasetDict) else DatasetDict({"train": SPLITS})',
            "",
            "",
            *_SPLIT_READER,
        ]
    return out if spec.task in UNLABELLED else out + ["", "", *_LABEL_NAME]


def _data(spec: TrainSpec) -> list[str]:
    task = spec.task
    d = spec.data
    if task == "token-classification":
        row = '{"tokens": [str(w) for w in r[TEXT_COLUMN]],\n             "tags": [label_name(t) for t in r[LABEL_COLUMN]]}'
        names = '{t for part in data.values() for r in part for t in r["tags"]}'
    elif task == "text-classification":
        pair = ',\n             "text_pair": r[TEXT_PAIR_COLUMN]' if d.text_pair_column else ""
        row = '{"text": r[TEXT_COLUMN]' + pair + ', "label": label_name(r[LABEL_COLUMN])}'
        names = '{r["label"] for part in data.values() for r in part}'
    else:
        row = '{"text": r[TEXT_COLUMN]}'
        names = ""
    read = "read_rows(TRAIN_FILE)" if _local(spec) else "read_split(SPLITS[HUB_SPLIT])"
    out = [
        "def load(rows):",
        f"    rows = [{row} for r in rows]",
        "    return Dataset.from_list(rows)",
        "",
        "",
    ]
    if _local(spec):
        out += [
            "if VALIDATION_FILE:",
            "    train_rows, validation_rows = read_rows(TRAIN_FILE), read_rows(VALIDATION_FILE)",
            '    data = DatasetDict({"train": load(train_rows), "validation": load(validation_rows)})',
        ]
    else:
        out += [
            'if HUB_SPLIT != "validation" and "validation" in SPLITS:  # the dataset\'s own, as run_glue.py takes it',
            "    data = DatasetDict(",
            '        {"train": load(read_split(SPLITS[HUB_SPLIT])), "validation": load(read_split(SPLITS["validation"]))}',
            "    )",
        ]
    if d.validation_fraction > 0:
        out += [
            "else:  # the validation rows split off with the seed, as the run split them",
            f"    split = load({read}).train_test_split(test_size={d.validation_fraction!r}, seed=SEED)",
            '    data = DatasetDict({"train": split["train"], "validation": split["test"]})',
        ]
    else:
        out += ["else:  # validation_fraction 0: no validation", f'    data = DatasetDict({{"train": load({read})}})']
    if task not in UNLABELLED:
        out += [
            "if LABELS is None:  # the run recorded none: the data's, in numeric order when all are numbers",
            f"    found = {names}",
            '    numbers = all(n.lstrip("-").isdigit() for n in found)',
            "    LABELS = sorted(found, key=int) if numbers else sorted(found)",
            "label2id = {name: i for i, name in enumerate(LABELS)}",
        ]
    out += ["tokenizer = AutoTokenizer.from_pretrained(MODEL" + _remote(spec) + ")"]
    if task == "text-classification":
        second = ', batch["text_pair"]' if d.text_pair_column else ""
        out += [
            "",
            "",
            "def encode(batch):",
            f'    enc = tokenizer(batch["text"]{second}, truncation=True, max_length=MAX_LENGTH)',
            '    enc["labels"] = [label2id[v] for v in batch["label"]]',
            "    return enc",
        ]
    elif task == "token-classification":
        if d.label_all_tokens:
            later = [
                "            elif word == previous:  # label_all_tokens: a later sub-token, B- turned into I- (run_ner.py)",
                '                name = "I-" + tags[word][2:] if tags[word].startswith("B-") else tags[word]',
                "                row.append(label2id.get(name, label2id[tags[word]]))",
                "            else:",
                "                row.append(label2id[tags[word]])",
            ]
            first = "            if word is None:\n                row.append(-100)"
        else:
            later = []
            first = (
                "            # a word's first sub-token carries its tag (-100: not in the loss)\n"
                "            row.append(-100 if word is None or word == previous else label2id[tags[word]])"
            )
        out += [
            "",
            "",
            "def encode(batch):",
            '    enc = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=MAX_LENGTH)',
            '    enc["labels"] = []',
            '    for i, tags in enumerate(batch["tags"]):',
            "        previous, row = None, []",
            "        for word in enc.word_ids(i):",
            *first.split("\n"),
            *later,
            "            previous = word",
            '        enc["labels"].append(row)',
            "    return enc",
        ]
    else:
        words = task == "masked-lm" and d.whole_word_masking
        if task == "causal-lm":
            out += [
                "if tokenizer.pad_token is None:",
                "    tokenizer.pad_token = tokenizer.eos_token  # the collator pads; GPT-2 style models have no pad token",
            ]
        special = ", return_special_tokens_mask=True" if task == "masked-lm" else ""
        offsets = ", return_offsets_mapping=True" if words else ""
        out += [
            "",
            "",
            "def encode(batch):",
            "    # the texts joined end to end and cut into MAX_LENGTH blocks (group_texts, as run_clm.py / run_mlm.py)",
            *(["    # whole-word masking finds where words start from the tokens' offsets"] if words else []),
            f'    enc = tokenizer(batch["text"]{special}{offsets})',
            "    joined = {k: [x for row in v for x in row] for k, v in enc.items()}",
            '    total = len(joined["input_ids"])',
            "    end = total // MAX_LENGTH * MAX_LENGTH if total >= MAX_LENGTH else total  # a short rest is dropped",
            "    return {k: [v[i : i + MAX_LENGTH] for i in range(0, end, MAX_LENGTH)] for k, v in joined.items()}",
        ]
    collator = COLLATORS[task]
    if task == "masked-lm" and d.whole_word_masking:
        collator = (
            "DataCollatorForLanguageModeling(\n    tokenizer, mlm_probability=0.15, whole_word_mask=True, "
            "mask_replace_prob=1, random_replace_prob=0\n)"
        )
    out += [
        "",
        "",
        "tokenized = {name: split.map(encode, batched=True, remove_columns=split.column_names) "
        "for name, split in data.items()}",
        'train, evaluation = tokenized["train"], tokenized.get("validation")',
        f"collator = {collator}",
    ]
    if task == "masked-lm":
        out += _SEEDED_MASKS
    return out


# tui-hf's job draws each batch's masks from a generator seeded by the batch's tokens and the seed, so a resumed
# run masks what an uninterrupted one did; the script does the same, and its losses are the run's.
_SEEDED_MASKS = [
    "",
    "",
    "class BatchSeededMasks:",
    '    """Each batch masked with a generator seeded by its token ids and SEED (as the run masked it)."""',
    "",
    "    def __init__(self, inner):",
    "        self.inner = inner",
    "",
    "    def __call__(self, features):",
    "        digest = hashlib.blake2b(str(SEED).encode(), digest_size=8)",
    "        for f in features:",
    '            digest.update(array("q", f["input_ids"]).tobytes() + b"|")',
    '        self.inner.generator = torch.Generator().manual_seed(int.from_bytes(digest.digest(), "little") >> 1)',
    "        return self.inner(features)",
    "",
    "",
    "collator = BatchSeededMasks(collator)",
]


def _remote(spec: TrainSpec) -> str:
    return ", trust_remote_code=True" if spec.trust_remote_code else ""


def _model(spec: TrainSpec) -> list[str]:
    load = [f"model = {HEADS[spec.task]}.from_pretrained(", "    MODEL,"]
    if spec.task not in UNLABELLED:
        load += ["    num_labels=len(LABELS),", "    id2label=dict(enumerate(LABELS)),", "    label2id=label2id,"]
        if spec.replace_head:
            load.append(
                "    ignore_mismatched_sizes=True,  # replace_head: a trained head with other labels is replaced"
            )
    if not spec.allow_pickle:
        load.append("    use_safetensors=True,  # never unpickle weights")
    if spec.trust_remote_code:
        load.append("    trust_remote_code=True,")
    load.append(")")
    if spec.task in UNLABELLED:
        return load
    if spec.task == "token-classification":
        return load + [
            "",
            "",
            "def metrics(logits, labels):",
            '    """Entity-level precision, recall and F1 and token accuracy, with seqeval (as run_ner.py and',
            '    the job report them), over the positions that have a label (not -100)."""',
            "    import warnings",
            "",
            "    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score",
            "",
            "    preds, labels = np.asarray(logits).argmax(-1), np.asarray(labels)",
            "    gold = [[LABELS[t] for t in row[row != -100]] for row in labels]",
            "    guess = [[LABELS[p] for p in prow[row != -100]] for prow, row in zip(preds, labels)]",
            "    with warnings.catch_warnings():",
            '        warnings.simplefilter("ignore")  # tags without a B-/I- prefix',
            '        return {"precision": float(precision_score(gold, guess, zero_division=0)),',
            '                "recall": float(recall_score(gold, guess, zero_division=0)),',
            '                "f1": float(f1_score(gold, guess, zero_division=0)),',
            '                "accuracy": float(accuracy_score(gold, guess))}',
        ]
    return load + [
        "",
        "",
        "def metrics(logits, labels):",
        '    """Accuracy and F1, as the job reports them: the F1 of class 1 for two classes (as GLUE\'s MRPC',
        '    is scored), macro F1 over the classes seen otherwise."""',
        "    preds, labels = np.asarray(logits).argmax(-1), np.asarray(labels)",
        "    if labels.size == 0:",
        "        return {}",
        "    classes = [1] if len(LABELS) == 2 else np.unique(np.concatenate([labels, preds]))",
        "    f1s = []",
        "    for c in classes:",
        "        tp = float(((preds == c) & (labels == c)).sum())",
        "        fp = float(((preds == c) & (labels != c)).sum())",
        "        fn = float(((preds != c) & (labels == c)).sum())",
        "        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)",
        '    return {"accuracy": float((preds == labels).mean()), "f1": float(np.mean(f1s))}',
    ]


def _trainer(spec: TrainSpec) -> list[str]:
    device = {"cpu": ["    use_cpu=True,"]}.get(spec.device, [])
    if spec.device not in ("cpu", "auto"):
        device = [f"    # the run asked for {spec.device}: Trainer picks the accelerator it finds"]
    evaluate = '"epoch" if evaluation is not None else "no"'
    out = ["args = TrainingArguments(", "    output_dir=OUTPUT_DIR,", f"    num_train_epochs={spec.epochs!r},"]
    if spec.max_steps > 0:
        out.append(f"    max_steps={spec.max_steps},  # stops before the epochs are done")
    out += [
        f"    per_device_train_batch_size={spec.batch_size},",
        f"    per_device_eval_batch_size={spec.batch_size * 2},",
        f"    learning_rate={spec.learning_rate!r},",
        f"    weight_decay={spec.weight_decay!r},",
        f"    warmup_steps={spec.warmup!r},{'  # below 1: a fraction of the steps' if spec.warmup < 1 else ''}",
        f"    max_grad_norm={spec.max_grad_norm!r},",
        f"    logging_steps={spec.logging_steps},",
        "    logging_first_step=True,",
        f"    eval_strategy={evaluate},",
        '    save_strategy="epoch",',
        "    seed=SEED,",
        '    report_to="none",',
        "    disable_tqdm=True,",
        *(
            ["    remove_unused_columns=False,  # the collator reads special_tokens_mask"]
            if spec.task == "masked-lm"
            else []
        ),
        *device,
        ")",
        "",
        "",
        "class PrintLogs(TrainerCallback):",
        '    """Each log and evaluation as one JSON line, every digit kept (the printer rounds to 4)."""',
        "",
        "    def on_log(self, args, state, control, logs=None, **kwargs):",
        *(
            [
                '        if logs and "eval_loss" in logs:  # perplexity, as run_clm.py / run_mlm.py report it',
                '            logs["eval_perplexity"] = math.exp(min(logs["eval_loss"], 700.0))',
            ]
            if spec.task in UNLABELLED
            else []
        ),
        '        print(json.dumps({"step": state.global_step, **(logs or {})}), flush=True)',
    ]
    if spec.eval_steps:
        out += [
            "",
            "    def on_step_end(self, args, state, control, **kwargs):",
            f"        # eval_steps {spec.eval_steps}: an evaluation every {spec.eval_steps} steps, besides each "
            "epoch's",
            f"        if evaluation is not None and state.global_step % {spec.eval_steps} == 0 "
            "and state.global_step < state.max_steps:",
            "            control.should_evaluate = True",
        ]
    metrics = (
        "    compute_metrics=lambda pred: metrics(pred.predictions, pred.label_ids),"
        if spec.task not in UNLABELLED
        else ""
    )
    out += [
        "",
        "",
        "trainer = Trainer(",
        "    model=model,",
        "    args=args,",
        "    train_dataset=train,",
        "    eval_dataset=evaluation,",
        "    processing_class=tokenizer,",
        "    data_collator=collator,",
        *([metrics] if metrics else []),
        "    callbacks=[PrintLogs()],",
        ")",
        "trainer.remove_callback(PrinterCallback)  # PrintLogs prints them",
        "if evaluation is not None:",
        "    trainer.evaluate()  # before the first step, as the run did: where finetuning starts from",
        "trainer.train()",
        'trainer.save_model(f"{OUTPUT_DIR}/final")  # the model, its config and the tokenizer',
    ]
    return out


def _native(spec: TrainSpec) -> list[str]:
    if spec.device == "auto":
        device = [
            'device = torch.device("cuda" if torch.cuda.is_available() else "mps" '
            'if torch.backends.mps.is_available() else "cpu")'
        ]
    else:
        device = [f"device = torch.device({spec.device!r})"]
    clip = f"{spec.max_grad_norm!r}" if spec.max_grad_norm > 0 else "math.inf"
    no_clip = ["        # max_grad_norm 0: no clipping; the norm is still measured"] if spec.max_grad_norm <= 0 else []
    total = (
        f"total = {spec.max_steps}  # max_steps: stops before the epochs are done"
        if spec.max_steps > 0
        else f"total = math.ceil({spec.epochs!r} * steps_per_epoch)"
    )
    warmup = (
        f"int({spec.warmup!r} * total)  # warmup below 1: a fraction of the steps"
        if spec.warmup < 1
        else f"{int(spec.warmup)}"
    )
    out = [
        *device,
        "model.to(device)",
        f"BATCH_SIZE = {spec.batch_size}",
        "steps_per_epoch = max(math.ceil(len(train) / BATCH_SIZE), 1)",
        total,
        'no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "ln_")  # biases and norms: no weight decay',
        "params = list(model.named_parameters())",
        "groups = [",
        f'    {{"params": [p for n, p in params if not any(k in n for k in no_decay)], "weight_decay": '
        f"{spec.weight_decay!r}}},",
        '    {"params": [p for n, p in params if any(k in n for k in no_decay)], "weight_decay": 0.0},',
        "]",
        'fused = True if device.type in ("cuda", "cpu") else None  # the fused kernel where there is one, as '
        "Trainer picks",
        f"optimizer = torch.optim.AdamW(groups, lr={spec.learning_rate!r}, fused=fused)",
        f"warmup = {warmup}",
        "scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total)  # linear up, then down to 0",
        "",
        "",
        "def evaluate(step):",
        "    if evaluation is None:",
        "        return",
        "    model.eval()",
        "    losses, all_logits, all_labels = [], [], []" if spec.task not in UNLABELLED else "    losses = []",
        "    with torch.no_grad():",
        "        for batch in DataLoader(evaluation, batch_size=BATCH_SIZE * 2, collate_fn=collator,",
        "                                generator=torch.Generator().manual_seed(SEED)):",
        "            batch = {k: v.to(device) for k, v in batch.items()}",
        "            out = model(**batch)",
        "            losses.append(float(out.loss))",
    ]
    if spec.task not in UNLABELLED:
        out += [
            '            logits, labels = out.logits.float().cpu(), batch["labels"].cpu()',
            "            all_logits.append(logits.reshape(-1, logits.shape[-1]))  # token classification: a row "
            "per position",
            "            all_labels.append(labels.reshape(-1))",
        ]
    out += ["    model.train()", '    result = {"step": step, "eval_loss": sum(losses) / max(len(losses), 1)}']
    if spec.task in UNLABELLED:
        out.append(
            '    result["eval_perplexity"] = math.exp(min(result["eval_loss"], 700.0))  # as run_clm.py reports it'
        )
    else:
        out += [
            "    scores = metrics(torch.cat(all_logits).numpy(), torch.cat(all_labels).numpy())",
            '    result.update({f"eval_{k}": v for k, v in scores.items()})',
        ]
    eval_steps = (
        [
            f"        if step % {spec.eval_steps} == 0 and step < total:  # eval_steps {spec.eval_steps}",
            "            evaluate(step)",
        ]
        if spec.eval_steps
        else []
    )
    out += [
        "    print(json.dumps(result), flush=True)",
        "",
        "",
        "evaluate(0)  # before the first step, as the run did: where finetuning starts from",
        "model.train()",
        "step = 0",
        "for epoch in range(math.ceil(total / steps_per_epoch)):",
        "    # each epoch's order comes from the seed and the epoch number; the loader draws from its own generator",
        "    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(SEED + epoch)).tolist()",
        "    loader = DataLoader(train, batch_size=BATCH_SIZE, sampler=order, collate_fn=collator,",
        "                        generator=torch.Generator().manual_seed(SEED + epoch))",
        "    for batch in loader:",
        "        batch = {k: v.to(device) for k, v in batch.items()}",
        "        loss = model(**batch).loss",
        "        loss.backward()",
        *no_clip,
        f"        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), {clip}))",
        "        optimizer.step()",
        "        scheduler.step()",
        "        optimizer.zero_grad(set_to_none=True)",
        "        step += 1",
        f"        if step % {spec.logging_steps} == 0 or step in (1, total):",
        '            logged = {"step": step, "epoch": step / steps_per_epoch, "loss": float(loss.detach()),',
        '                      "learning_rate": scheduler.get_last_lr()[0], "grad_norm": grad_norm}',
        "            print(json.dumps(logged), flush=True)",
        *eval_steps,
        "        if step >= total:",
        "            break",
        "    evaluate(step)",
        '    model.save_pretrained(f"{OUTPUT_DIR}/checkpoint-{step}")  # a checkpoint each epoch (weights only)',
        "    if step >= total:",
        "        break",
        'model.save_pretrained(f"{OUTPUT_DIR}/final")',
        'tokenizer.save_pretrained(f"{OUTPUT_DIR}/final")',
    ]
    return out


def export_script(run_dir: Path, out: Path) -> Path:
    """Write the run's training script to `out` (a new file: an existing one is never replaced)."""
    from tui_hf.core.errors import SpecError
    from tui_hf.core.training.runs import SPEC
    from tui_hf.core.training.storage import storage_error

    spec = TrainSpec.load(run_dir / SPEC)
    # A script that left out what the run did would train something else without saying so: refuse instead.
    if spec.task not in HEADS:
        raise SpecError(
            f"{run_dir.name} trained {spec.task}: the script export covers "
            f"{', '.join(HEADS)} so far (nothing was written)"
        )
    if spec.lora is not None or spec.qlora:
        raise SpecError(
            f"{run_dir.name} trained LoRA adapters: the script export does not write LoRA yet (nothing was written)"
        )
    memory = [
        *([f"{spec.precision} precision"] if spec.precision in ("bf16", "fp16") else []),
        *([f"gradient accumulation ({spec.grad_accum} micro-batches a step)"] if spec.grad_accum > 1 else []),
        *(["gradient checkpointing"] if spec.grad_checkpointing else []),
    ]
    if memory:
        raise SpecError(
            f"{run_dir.name} trained with {' and '.join(memory)}: the script export does not write "
            "these yet (nothing was written)"
        )
    text = training_script(spec, run_labels(run_dir), run_dir.name)
    if out.is_dir():
        raise SpecError(f"{out} is a directory: name the script file, e.g. {out / 'train.py'}")
    try:
        with open(out, "x", encoding="utf-8") as fh:
            fh.write(text)
    except FileExistsError:
        raise SpecError(f"{out} exists: choose another file name (nothing was written)") from None
    except OSError as exc:
        raise storage_error(exc, f"cannot write {out}") from None
    return out
