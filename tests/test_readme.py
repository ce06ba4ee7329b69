"""Every command README shows in a ```bash block runs, in README's order, and does what README says.

README is read when the tests are collected, so a block someone adds is picked up at once; a command with no
entry in EXAMPLES fails, saying to add one. Placeholders are mapped to fixtures, not rewritten in the text:

    ./my-classifier, ./my-qa, ./my-mlm,   links in the working directory to the tiny models
    ./my-translator, ./my-generator       of conftest.py
    ./my-copy                            a new directory there (what `tui-hf save` writes)
    reviews.csv                          a file written there, with `review` and `stars` columns
    RUN                                  the run that the `--detach` example started
    20261124-181743-embedded-trainer     (any date-stamped run name) the first run the examples made
    [--flag]                             an optional flag is given

Each command runs with `bash -o pipefail` in a temporary working directory (so `runs/` and `metrics.csv` land
there), offline, with `tui-hf` meaning this checkout. Full-screen commands (`tui-hf`, `tui-hf attach`) run in
a real pseudo-terminal until their first screen shows, then quit with ctrl+q. What is not run is listed in
EXAMPLES with the reason (`skip`), and so is every change made to a command (`rewrite`).
"""

from __future__ import annotations

import json
import math
import os
import pty
import re
import select
import shlex
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RUN_NAME = re.compile(r"\b\d{8}-\d{6}-[\w.-]+")


def readme_commands(text: str) -> list[str]:
    """The command lines of every ```bash block (continuation lines joined; comment-only lines left out)."""
    commands = []
    for block in re.findall(r"^```bash[ \t]*\n(.*?)^```", text, flags=re.M | re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]
    return commands


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))


@dataclass
class Workspace:
    cwd: Path
    env: dict[str, str]
    runs: list[str] = field(default_factory=list)  # run names, in the order the examples made them
    detached: str | None = None

    def run_dir(self, name: str) -> Path:
        return self.cwd / "runs" / name

    def new_runs(self, before: set[str]) -> list[str]:
        runs = self.cwd / "runs"
        made = [p for p in runs.iterdir() if p.name not in before] if runs.is_dir() else []
        return [p.name for p in sorted(made, key=lambda p: p.stat().st_mtime)]


@dataclass
class Result:
    code: int
    out: str
    err: str = ""

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Example:
    pattern: str  # a regular expression the whole README command matches
    check: Callable[[Result, Workspace], None] = lambda _r, _w: None
    how: str = "shell"  # shell | pty (full screen: quit once it shows `expect`) | skip
    expect: str = ""
    code: int = 0
    rewrite: Callable[[str, Workspace], str] | None = None  # said in `why`
    before: Callable[[Workspace], None] | None = None
    why: str = ""


# -- what each example must do --------------------------------------------------------------------------


def _similarity(r: Result, _w: Workspace) -> None:
    result = r.json()["result"]
    assert [i["text"] for i in result["items"]] == [
        "A man is eating food.",
        "A man eats a meal.",
        "The stock market fell.",
    ]
    sim = result["similarity"]
    assert sim[0][1] > sim[0][2]  # the pretrained MiniLM knows a paraphrase from an unrelated sentence


def _sentiment(r: Result, _w: Workspace) -> None:
    payload = r.json()
    assert payload["task"] == "text-classification"
    assert [i["text"] for i in payload["result"]["items"]] == ["I love it"]
    assert {s["label"] for s in payload["result"]["items"][0]["labels"]} == {"NEGATIVE", "POSITIVE"}
    assert payload["explain"]["steps"]


def _pair(r: Result, w: Workspace) -> None:
    from transformers import pipeline

    payload = r.json()
    item = payload["result"]["items"][0]
    assert item["text"] == "The bicycle was fixed by David." and item["text_pair"] == "David fixed the bicycle."
    # the model read one sequence of two segments: segment ids 1 on the second text
    lines = payload["explain"]["steps"][0]["value"].splitlines()
    types = next(lines[n + 1] for n, x in enumerate(lines) if x.startswith("token_type_ids"))  # under its header
    assert re.search(r"\b1\b", types) and re.search(r"\b0\b", types), types
    truth = pipeline("text-classification", model=str(w.cwd / "my-classifier"), device="cpu")(
        {"text": item["text"], "text_pair": item["text_pair"]}, top_k=None
    )
    assert {s["label"]: s["score"] for s in item["labels"]} == pytest.approx(
        {t["label"]: t["score"] for t in truth}, abs=2e-6
    )


def _qa(r: Result, _w: Workspace) -> None:
    result = r.json()["result"]
    assert result["question"] == "Where is it?" and result["context"] == "It is in Paris."
    assert len(result["answers"]) == 3


def _fill_mask(r: Result, _w: Workspace) -> None:
    items = r.json()["result"]["items"]
    assert [i["text"] for i in items] == ["Paris is the [MASK] of France."]
    assert items[0]["masks"][0] and "[MASK]" not in items[0]["filled"]


def _translated(r: Result, _w: Workspace) -> None:
    result = r.json()["result"]
    assert result["tgt_lang"] == "fra_Latn" and result["forced_token"] == "fra_Latn"  # French, in NLLB's codes
    assert [i["input"] for i in result["items"]] == ["The weather is lovely."]


def _qa_help(r: Result, _w: Workspace) -> None:
    for setting in ("context=TEXT", "top_k=INT", "doc_stride=INT", "max_answer_len=INT"):
        assert re.search(rf"^\s+{re.escape(setting)}\s+\S", r.out, flags=re.M), setting


def _saved(r: Result, w: Workspace) -> None:
    assert "saved BertForSequenceClassification" in r.out
    config = json.loads((w.cwd / "my-copy" / "config.json").read_text())
    assert config["id2label"] == {"0": "NEGATIVE", "1": "POSITIVE"}
    assert (w.cwd / "my-copy" / "model.safetensors").is_file() and (w.cwd / "my-copy" / "tokenizer.json").is_file()


def _code(r: Result, _w: Workspace) -> None:
    """Both scripts ran: the pipeline's answer, then the explicit path's, the same labels."""
    printed = [line for line in r.out.splitlines() if '"label": ' in line]
    assert len(printed) == 4 and {p.strip(' ,"').split('"')[-1] for p in printed} == {"NEGATIVE", "POSITIVE"}, r.out


def _script(r: Result, w: Workspace) -> None:
    assert w.detached and "wrote train.py" in r.out and "sentinel" in r.out, r.out
    text = (w.cwd / "train.py").read_text(encoding="utf-8")
    compile(text, "train.py", "exec")
    assert "trainer = Trainer(" in text and "'review'" in text and "'stars'" in text  # the run's spec


def _trained(engine: str) -> Callable[[Result, Workspace], None]:
    def check(r: Result, w: Workspace) -> None:
        name = w.runs[-1]
        assert f"run runs/{name}" in r.out
        spec = json.loads((w.run_dir(name) / "spec.json").read_text())
        assert spec["engine"] == engine and spec["data"]["train"].endswith("sentiment.csv")
        assert (w.run_dir(name) / "final" / "model.safetensors").is_file()

    return check


def _paired(r: Result, w: Workspace) -> None:
    name = w.runs[-1]
    spec = json.loads((w.run_dir(name) / "spec.json").read_text())
    assert spec["data"]["train"].endswith("paraphrase.csv") and spec["data"]["text_pair_column"] == "sentence2"
    assert (w.run_dir(name) / "final" / "model.safetensors").is_file()


def _masked_words(r: Result, w: Workspace) -> None:
    name = w.runs[-1]
    spec = json.loads((w.run_dir(name) / "spec.json").read_text())
    assert spec["task"] == "masked-lm" and spec["data"]["whole_word_masking"] is True
    assert (w.run_dir(name) / "final" / "model.safetensors").is_file()


def _summarized(r: Result, w: Workspace) -> None:
    name = w.runs[-1]
    spec = json.loads((w.run_dir(name) / "spec.json").read_text())
    assert spec["task"] == "seq2seq" and spec["data"]["train"].endswith("headlines.jsonl")
    evals = [e for e in _events(w, name) if e["event"] == "eval"]
    assert evals and {"eval_bleu", "eval_rougeL", "eval_gen_len"} <= set(evals[-1])
    assert (w.run_dir(name) / "final" / "model.safetensors").is_file()


def _tagged(r: Result, w: Workspace) -> None:
    name = w.runs[-1]
    spec = json.loads((w.run_dir(name) / "spec.json").read_text())
    assert spec["task"] == "token-classification" and spec["data"]["train"].endswith("entities.jsonl")
    evals = [e for e in _events(w, name) if e["event"] == "eval"]
    assert evals and {"eval_precision", "eval_recall", "eval_f1", "eval_accuracy"} <= set(evals[-1])
    start = next(e for e in _events(w, name) if e["event"] == "start")
    assert set(start["labels"]) == {"O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"}, start["labels"]


def _answered(r: Result, w: Workspace) -> None:
    name = w.runs[-1]
    spec = json.loads((w.run_dir(name) / "spec.json").read_text())
    assert spec["task"] == "question-answering" and spec["data"]["train"].endswith("qa_people.jsonl")
    assert "exact_match" in r.out and (w.run_dir(name) / "final" / "model.safetensors").is_file(), r.out


def _scored(r: Result, w: Workspace) -> None:
    result = json.loads(r.out)["results"][0]
    assert result["text"] == "The quick brown fox" and result["tokens"][0]["logprob"] is None
    logprobs = [t["logprob"] for t in result["tokens"][1:]]
    assert len(logprobs) == result["tokens_scored"] >= 2 and all(len(t["top"]) == 3 for t in result["tokens"][1:])
    assert result["perplexity"] == pytest.approx(math.exp(-sum(logprobs) / len(logprobs)), rel=1e-4)


def _started(r: Result, w: Workspace) -> None:
    assert w.detached is not None and f"started runs/{w.detached}" in r.out
    spec = json.loads((w.run_dir(w.detached) / "spec.json").read_text())
    assert (spec["data"]["text_column"], spec["data"]["label_column"]) == ("review", "stars")


def _listed(r: Result, w: Workspace) -> None:
    for name in w.runs:
        assert name in r.out


def _events(w: Workspace, name: str) -> list[dict[str, Any]]:
    path = w.run_dir(name) / "events.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip().endswith("}")]


def _wait(what: str, condition: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.2)


def _training(w: Workspace) -> None:
    assert w.detached, "RUN is the run the --detach example starts: run the examples in README's order"
    name = w.detached
    _wait(
        f"{name} training",
        lambda: any(e.get("event") == "train" or e.get("status") in ("failed", "finished") for e in _events(w, name)),
    )
    ended = [e for e in _events(w, name) if e.get("status") in ("failed", "finished")]
    assert not ended, f"{name} ended before `stop` could stop it: {ended[-1].get('message')}"


def _stopped(w: Workspace) -> None:
    assert w.detached
    name = w.detached
    _wait(
        f"{name} stopping",
        lambda: any(
            e.get("event") == "status" and e.get("status") in ("stopped", "finished", "failed")
            for e in _events(w, name)
        ),
    )


def _exported(r: Result, w: Workspace) -> None:
    rows = (w.cwd / "metrics.csv").read_text(encoding="utf-8").splitlines()
    assert re.search(rf"wrote {len(rows) - 1} rows to metrics.csv", r.out), r.out
    assert len(rows) > 1 and "loss" in rows[0]


def _resumed_job_ended(w: Workspace) -> None:
    """`runs rm` is refused while the run's job lives: the resumed job from the examples above is stopped first
    (the refusal itself is tested in tests/test_training_views.py)."""
    from tui_hf.core.training import job

    assert w.detached
    run_dir = w.run_dir(w.detached)
    if job.is_alive(run_dir):
        job.request_stop(run_dir)
    _wait(f"{w.detached} ending", lambda: not job.is_alive(run_dir))


def _removed(r: Result, w: Workspace) -> None:
    assert w.detached and not w.run_dir(w.detached).exists(), r.out


def _resumed(w: Workspace) -> None:
    """Requests need a job to read them: the job `resume RUN --detach` started, once it is past its data."""
    from tui_hf.core.training import job

    assert w.detached
    run_dir = w.run_dir(w.detached)
    _wait(f"{w.detached} resumed", lambda: job.is_alive(run_dir))


def _acknowledged(action: str) -> Callable[[Result, Workspace], None]:
    def check(r: Result, w: Workspace) -> None:
        assert w.detached
        _wait(
            f"{action} acknowledged",
            lambda: any(
                e.get("event") == "control" and e.get("action") == action and e.get("via") == "control"
                for e in _events(w, w.detached)
            ),
        )
        assert r.code == 0, r.out

    return check


def _snapshot(r: Result, w: Workspace) -> None:
    assert r.code == 0 and f"{w.detached}: " in r.out and "step " in r.out and "alerts" in r.out, r.out


def _planned(r: Result, w: Workspace) -> None:
    assert r.code == 0 and "nothing was created" in r.out, r.out + r.err
    assert "256 train rows, 64 validation rows" in r.out and "effective batch 16 (4 × 4 accumulation)" in r.out
    assert "precision bf16" in r.out and "memory per device: about" in r.out


def _placed(r: Result, _w: Workspace) -> None:
    payload = r.json()
    assert payload["device"] == "cpu" and payload["placement"].startswith("cpu ") and payload["memory_mb"] > 0


def _xray(r: Result, w: Workspace) -> None:
    assert r.code == 0 and "step 1: 16 rows" in r.out and "matches the trained batch" in r.out, r.out
    assert "label " in r.out and "line " in r.out


def _diffed(r: Result, w: Workspace) -> None:
    assert r.code == 0, r.out
    assert 'engine: "trainer"  vs  "native"' in r.out, r.out


def _two_runs(command: str, w: Workspace) -> str:
    assert len(w.runs) >= 2, "the runs compared are the first two the examples made: run them in README's order"
    names = iter(w.runs[:2])
    return RUN_NAME.sub(lambda _m: next(names), command)


def _short_training(command: str, _w: Workspace) -> str:
    command, _, _comment = command.partition(" #")  # before the comment, which would swallow the option
    return f"{command.rstrip()} --max-steps 2"


def _run_name(command: str, w: Workspace) -> str:
    assert w.runs, "the run name stands for the first run the examples made: run them in README's order"
    return RUN_NAME.sub(w.runs[0], command)


def _run_placeholder(command: str, w: Workspace) -> str:
    assert w.detached, "RUN is the run the --detach example starts: run the examples in README's order"
    return re.sub(r"\bRUN\b", w.detached, command)


EXAMPLES = [
    Example(
        r"pip install torch==\S+ -e \. && tui-hf",
        how="pty",
        expect="Tokens",
        rewrite=lambda c, _w: "tui-hf",
        why="the install is not repeated (.ci/run installs in CI); the app runs until its first screen",
    ),
    Example(
        r"pip install torch==\S+ -e \"\.\[test\]\" && python -m pytest( .*)?",
        how="skip",
        why="it is this test suite; .ci/run runs that line verbatim",
    ),
    Example(r"tui-hf run feature-extraction .*", _similarity),
    Example(r"tui-hf run sentiment-analysis --model \./my-classifier .*", _sentiment),
    Example(r"tui-hf run text-classification --model \./my-classifier .* -s text_pair=.*", _pair),
    Example(r"tui-hf run question-answering --model \./my-qa .*", _qa),
    Example(r"echo .* \| tui-hf run fill-mask --model \./my-mlm -", _fill_mask),
    Example(r"tui-hf run question-answering --help(\s+#.*)?", _qa_help),
    Example(r"tui-hf run translation --model \./my-translator .*", _translated),
    Example(r"tui-hf score --model \./my-generator \"The quick brown fox\" --top 3", _scored),
    Example(r"tui-hf save \./my-copy --model \./my-classifier --task sentiment-analysis(\s+#.*)?", _saved),
    Example(
        r"tui-hf run text-classification --code --model \./my-classifier \"I love it\" > classify\.py "
        r"&& python classify\.py",
        _code,
    ),
    Example(
        r"tui-hf train --data sentiment(\s+#.*)?",
        _trained("trainer"),
        rewrite=_short_training,
        why="2 steps instead of 3 epochs: the example's path, in seconds",
    ),
    Example(
        r"tui-hf train --data sentiment --engine native(\s+#.*)?",
        _trained("native"),
        rewrite=_short_training,
        why="2 steps instead of 3 epochs",
    ),
    Example(
        r"tui-hf train --data paraphrase --text-column sentence1 --text-pair-column sentence2(\s+#.*)?",
        _paired,
        rewrite=_short_training,
        why="2 steps instead of 3 epochs",
    ),
    Example(
        r"tui-hf train --data (glue|lhoestq/conll2003|stanfordnlp/imdb) .*--model \S+/\S+.*",
        how="skip",
        why="a hub dataset and a hub model: it needs the network (offline it is refused, tests/test_training_sources.py)",
    ),
    Example(
        r"tui-hf train --data sentiment --task masked-lm --whole-word-masking(\s+#.*)?",
        _masked_words,
        rewrite=_short_training,
        why="2 steps instead of 3 epochs",
    ),
    Example(
        r"tui-hf train --data entities --task token-classification --text-column tokens --label-column ner_tags(\s+#.*)?",
        _tagged,
        rewrite=_short_training,
        why="2 steps instead of 3 epochs",
    ),
    Example(
        r"tui-hf train --data qa-people --task question-answering(\s+#.*)?",
        _answered,
        rewrite=_short_training,
        why="2 steps instead of 3 epochs",
    ),
    Example(
        r"tui-hf train --data headlines --task seq2seq --text-column source --model google-t5/t5-small(\s+#.*)?",
        _summarized,
        rewrite=lambda c, _w: (
            re.sub(r"\s+#.*$", "", c).replace("google-t5/t5-small", "./my-summarizer")
            + " --max-steps 2 --max-length 32"
        ),
        why="a tiny T5 built offline instead of t5-small (not cached here), 2 steps, generating up to 32 tokens",
    ),
    Example(
        r"tui-hf train --data FiscalNote/billsum --task seq2seq .*(\s+#.*)?",
        how="skip",
        why="a hub dataset and a hub model: it needs the network",
    ),
    Example(
        r"tui-hf train --data Helsinki-NLP/opus_books .*(\s+#.*)?",
        how="skip",
        why="a hub dataset and a hub model: it needs the network (a translation column of objects is trained "
        "offline in tests/test_training_seq2seq.py)",
    ),
    Example(
        r"tui-hf train --data squad --task question-answering .*",
        how="skip",
        why="the course's SQuAD and a hub model: needs the network",
    ),
    Example(r"tui-hf train --data reviews\.csv .*--detach(\s+#.*)?", _started),
    Example(r"tui-hf runs(\s+#.*)?", _listed),
    Example(r"tui-hf attach \S+(\s+#.*)?", how="pty", expect="Export CSV", rewrite=_run_name),
    Example(
        r"tui-hf stop RUN(\s+#.*)?",
        lambda r, w: None if "asked" in r.out else pytest.fail(r.out),
        before=_training,
        rewrite=_run_placeholder,
    ),
    Example(
        r"tui-hf resume RUN \[--detach\](\s+#.*)?",
        lambda r, w: None if "resumed" in r.out else pytest.fail(r.out),
        before=_stopped,
        rewrite=_run_placeholder,
    ),
    Example(r"tui-hf control RUN save(\s+#.*)?", _acknowledged("save"), before=_resumed, rewrite=_run_placeholder),
    Example(
        r"tui-hf control RUN early-stop --metric eval_loss --patience 2(\s+#.*)?",
        _acknowledged("early-stop"),
        before=_resumed,
        rewrite=_run_placeholder,
    ),
    Example(r"tui-hf attach RUN --once(\s+#.*)?", _snapshot, rewrite=_run_placeholder),
    Example(r"tui-hf batch RUN 1(\s+#.*)?", _xray, rewrite=_run_placeholder),
    Example(r"tui-hf runs --diff \S+ \S+(\s+#.*)?", _diffed, rewrite=_two_runs),
    Example(r"tui-hf export RUN metrics\.csv(\s+#.*)?", _exported, rewrite=_run_placeholder),
    Example(r"tui-hf export RUN --script train\.py(\s+#.*)?", _script, rewrite=_run_placeholder),
    Example(r"tui-hf runs rm RUN(\s+#.*)?", _removed, before=_resumed_job_ended, rewrite=_run_placeholder),
    Example(
        r"tui-hf train --data sentiment --batch-size 4 --grad-accum 4 --precision bf16 --dry-run(\s+#.*)?", _planned
    ),
    Example(
        r"tui-hf run text-classification --model \./my-classifier --device-map auto \"I love it\"(\s+#.*)?", _placed
    ),
]


def find_example(command: str) -> Example | None:
    return next((e for e in EXAMPLES if re.fullmatch(e.pattern, command)), None)


# -- running them ---------------------------------------------------------------------------------------


REVIEWS = [
    "great value and would buy again",
    "broke after a day",
    "does what it says",
    "terrible support",
    "love the colour",
    "arrived late and damaged",
    "five stars from me",
    "not worth the money",
]


@pytest.fixture(scope="module")
def workspace(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_bert_cls_dir: Path,
    tiny_qa_dir: Path,
    tiny_mlm_dir: Path,
    tiny_nllb_dir: Path,
    tiny_gpt2_dir: Path,
    tiny_t5_dir: Path,
) -> Iterator[Workspace]:
    cwd = tmp_path_factory.mktemp("readme")
    for link, target in (
        ("my-classifier", tiny_bert_cls_dir),
        ("my-qa", tiny_qa_dir),
        ("my-mlm", tiny_mlm_dir),
        ("my-translator", tiny_nllb_dir),
        ("my-generator", tiny_gpt2_dir),
        ("my-summarizer", tiny_t5_dir),
    ):
        (cwd / link).symlink_to(target, target_is_directory=True)
    # Large enough that the background example is still training when `stop RUN` comes.
    rows = ["review,stars"] + [f"{REVIEWS[i % 8]} #{i},{5 if i % 2 == 0 else 1}" for i in range(3000)]
    (cwd / "reviews.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    bin_dir = cwd / ".bin"
    bin_dir.mkdir()
    (bin_dir / "tui-hf").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m tui_hf "$@"\n')
    (bin_dir / "tui-hf").chmod(0o755)
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')  # the tests' own
    (bin_dir / "python").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("TUI_HF_RUNS", "PYTEST_CURRENT_TEST")}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        HF_HUB_OFFLINE="1",
        TERM="xterm-256color",
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        XDG_STATE_HOME=str(cwd / ".state"),
    )
    ws = Workspace(cwd, env)
    try:
        yield ws
    finally:
        stop_jobs(ws)


def stop_jobs(ws: Workspace) -> None:
    """Stop every job the examples left running, and wait until each is gone (its files are about to go)."""
    from tui_hf.core.training.events import pid_alive
    from tui_hf.core.training.job import job_pid, stop

    for name in ws.new_runs(set()):
        run_dir = ws.run_dir(name)
        pid = job_pid(run_dir)
        if not pid_alive(pid):
            continue
        stop(run_dir)
        try:
            _wait(f"{name} exiting", lambda pid=pid: not pid_alive(pid), timeout=60)  # type: ignore[misc]
        except AssertionError:
            os.killpg(pid, signal.SIGKILL)


def run_shell(command: str, ws: Workspace, timeout: float = 300) -> Result:
    out = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=ws.cwd,
        env=ws.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Result(out.returncode, out.stdout, out.stderr)


def run_in_pty(command: str, ws: Workspace, expect: str, timeout: float = 120) -> Result:
    """Run a full-screen command in a pseudo-terminal; once `expect` shows on its screen, press ctrl+q."""
    argv = shlex.split(command, comments=True)
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, on the terminal
        try:
            # A terminal's defaults, not what a test run started with `&` or nohup inherited (ignored).
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGHUP, signal.SIG_DFL)
            os.chdir(ws.cwd)
            os.execvpe(argv[0], argv, ws.env)
        finally:
            os._exit(127)
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    screen, quit_sent, status = b"", False, None
    deadline = time.monotonic() + timeout
    try:
        while status is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{command!r}: no {expect!r} and no exit within {timeout:.0f} s")
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    screen += os.read(fd, 65536)
                except OSError:  # the terminal closed: the command is exiting
                    pass
            text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]", b"", screen)
            if not quit_sent and expect.encode() in text:
                os.write(fd, b"\x11")  # ctrl+q
                quit_sent = True
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw)
    finally:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert quit_sent, f"{command!r} exited ({status}) before showing {expect!r}:\n{screen.decode(errors='replace')}"
    return Result(status, screen.decode(errors="replace"))


@pytest.mark.parametrize("command", COMMANDS, ids=[c[:70] for c in COMMANDS])
def test_readme_command(command: str, workspace: Workspace) -> None:
    example = find_example(command)
    if example is None:
        pytest.fail(
            f"README command {command!r} has no entry in EXAMPLES (tests/test_readme.py): add one that "
            "says how to run it and what it must show"
        )
    if example.how == "skip":
        pytest.skip(example.why)
    line = example.rewrite(command, workspace) if example.rewrite else command
    line = re.sub(r"\[(--[\w-]+)\]", r"\1", line)
    if example.before:
        example.before(workspace)
    before = set(workspace.new_runs(set()))
    result = run_in_pty(line, workspace, example.expect) if example.how == "pty" else run_shell(line, workspace)
    made = workspace.new_runs(before)
    workspace.runs += made
    if made and "--detach" in line and line.startswith("tui-hf train"):
        workspace.detached = made[-1]
    assert result.code == example.code, f"{line!r} exited {result.code}\n{result.out[-2000:]}\n{result.err[-2000:]}"
    example.check(result, workspace)


def test_readme_has_commands_to_run() -> None:
    assert any(c.startswith("tui-hf run ") for c in COMMANDS) and any("tui-hf train" in c for c in COMMANDS)


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    tests = [c for c in COMMANDS if "python -m pytest" in c]
    assert len(tests) == 1, tests
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests[0] in ci, "README's test command and .ci/run's differ"
