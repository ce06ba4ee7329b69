"""Training data files read as records, with the file's real line numbers, in one streaming pass.

The same reader validates a file before a run starts (every row, bounded memory: nothing but label counts
is kept) and feeds the job's dataset, so what was checked is exactly what trains. pandas' CSV reader (what
`datasets` uses) shifts the columns of a ragged row and turns empty or "None" cells into NaN and then into
the class "None"; here a ragged row, an empty cell or a null is refused with its line and column instead.

Formats: CSV (a header row; a UTF-8 BOM, as Excel writes it, is accepted), JSON Lines (one object per line;
`.json` files may hold that too) and JSON (one array of objects).
"""

from __future__ import annotations

import csv
import json
import math
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tui_hf.core.errors import Cancelled, DataError
from tui_hf.core.training.families import FAMILIES

FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json"}
MAX_LINE_BYTES = 64 * 2**20  # one line (or one CSV field) larger than this is not text data
MANY_LABELS = 1000  # more distinct labels than this is probably the wrong column: warn
MAX_LABELS = 100_000  # beyond this, refuse (and stop counting: memory stays bounded)
NULL_CELLS = frozenset({"nan", "null", "none", "na", "n/a", "<na>", "nat"})  # what pandas would read as missing
STOP_EVERY = 4096  # records between two looks at the stop flag
_json_decode = json.JSONDecoder().decode

Record = dict[str, Any]
Kind = Literal["text-classification", "token-classification", "causal-lm", "question-answering"]


def is_file_ref(ref: str) -> bool:
    """A data file (an existing one, or a name with a data file's suffix); a directory is a saved dataset."""
    return (Path(ref).suffix.lower() in FORMATS and not os.path.isdir(ref)) or os.path.isfile(ref)


def is_saved_dataset(ref: str) -> bool:
    """A directory given as data: a dataset saved with `datasets`' save_to_disk (load_saved checks it is one)."""
    return bool(ref) and os.path.isdir(ref)


def is_local_data(ref: str) -> bool:
    return is_file_ref(ref) or is_saved_dataset(ref)


def _where(path: str | os.PathLike[str], line: int | None, column: str | None = None) -> str:
    out = str(path)
    if line is not None:
        out += f", line {line}"
    if column is not None:
        out += f", column {column!r}"
    return out


class At:
    """Where a row is (file, line), formatted only when a message needs it: a row is checked far more often
    than it is reported."""

    __slots__ = ("path", "line")

    def __init__(self, path: str | os.PathLike[str], line: int) -> None:
        self.path, self.line = path, line

    def __str__(self) -> str:
        return _where(self.path, self.line)


def _check_stop(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise Cancelled("stopped while reading the data")


# -- reading --------------------------------------------------------------------------------------------


def _cr_lines(fh: Any) -> Iterator[bytes]:
    """The lines of a file whose lines end in a lone CR (old Mac, some spreadsheet exports), each ending in
    LF as the readers expect; a line that grows past MAX_LINE_BYTES comes back without its LF."""
    rest = b""
    while True:
        chunk = fh.read(1 << 20)
        if not chunk:
            if rest:
                yield rest
            return
        *lines, rest = (rest + chunk).split(b"\r")
        for line in lines:
            yield line + b"\n"
        if len(rest) > MAX_LINE_BYTES:
            yield rest
            return


def _binary_lines(fh: Any, path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) for each physical line; a UTF-8 BOM at the start is dropped. LF and CRLF end a
    line, and so does a lone CR in a file that has no LF at the start: read whole, its rows would run together."""
    head = fh.read(1 << 16)
    fh.seek(0)
    if b"\r" in head and b"\n" not in head:
        source: Iterator[bytes] = _cr_lines(fh)
    else:
        source = iter(lambda: fh.readline(MAX_LINE_BYTES + 1), b"")
    number = 0
    for line in source:
        number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            raise DataError(
                f"{_where(path, number)}: a line longer than {MAX_LINE_BYTES // 2**20} MB; is this a text data file?"
            )
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        yield number, line


def _decode(line: bytes, path: str | os.PathLike[str], number: int) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{_where(path, number)}: byte 0x{line[exc.start]:02x} at character {exc.start + 1} is "
            "not UTF-8; save the file as UTF-8"
        ) from None


def _csv_records(path: Path, stop: threading.Event | None) -> Iterator[tuple[int, Record]]:
    with open(path, "rb") as fh:
        lines = _binary_lines(fh, path)
        current = [0]

        def text_lines() -> Iterator[str]:
            for number, raw in lines:
                current[0] = number
                yield _decode(raw, path, number)

        reader = csv.reader(text_lines(), strict=True)
        old_limit = csv.field_size_limit()
        csv.field_size_limit(MAX_LINE_BYTES)
        try:
            try:
                header = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise DataError(f"{_where(path, current[0])}: not valid CSV ({exc}); check the quotes") from None
            header = [h.strip() for h in header]
            if not any(header):
                raise DataError(f"{_where(path, 1)}: the first line must name the columns (a header row)")
            dupes = sorted({h for h in header if header.count(h) > 1})
            if dupes:
                raise DataError(f"{_where(path, 1)}: column {dupes[0]!r} appears twice in the header")
            start = reader.line_num + 1
            count = 0
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise DataError(f"{_where(path, current[0])}: not valid CSV ({exc}); check the quotes") from None
                if row and len(row) != len(header):
                    if len(row) == 1 and not row[0].strip():
                        start = reader.line_num + 1
                        continue  # a line of spaces between rows
                    raise DataError(
                        f"{_where(path, start)}: {len(row)} fields where the header has {len(header)}; "
                        'quote fields that contain commas ("like, this") or fix the row'
                    )
                if row:
                    count += 1
                    if count % STOP_EVERY == 0:
                        _check_stop(stop)
                    yield start, dict(zip(header, row))
                start = reader.line_num + 1
        finally:
            csv.field_size_limit(old_limit)


def _jsonl_records(path: Path, stop: threading.Event | None) -> Iterator[tuple[int, Record]]:
    with open(path, "rb") as fh:
        count = 0
        for number, raw in _binary_lines(fh, path):
            if not raw.strip():
                continue
            text = _decode(raw, path, number)
            try:
                value = _json_decode(text)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{_where(path, number)}: not valid JSON at character {exc.colno} ({exc.msg}); "
                    "each line must hold one JSON object"
                ) from None
            if not isinstance(value, dict):
                raise DataError(
                    f"{_where(path, number)}: expected a JSON object ({{...}}) per line, found {type(value).__name__}"
                )
            count += 1
            if count % STOP_EVERY == 0:
                _check_stop(stop)
            yield number, value


def _json_array_records(path: Path, stop: threading.Event | None, chunk: int = 1 << 20) -> Iterator[tuple[int, Record]]:
    """The objects of one top-level JSON array, decoded one at a time from a sliding window of the file."""
    decoder = json.JSONDecoder()
    with open(path, "rb") as fh:
        lines = _binary_lines(fh, path)
        buf, line_at_buf = "", 1  # line_at_buf: the line number of buf[0]
        exhausted = False

        def fill() -> bool:
            """Append about `chunk` more bytes of whole lines; False at the end of the file."""
            nonlocal buf, exhausted
            got = 0
            for number, raw in lines:
                buf += _decode(raw, path, number)
                got += len(raw)
                if got >= chunk:
                    return True
            exhausted = True
            return got > 0

        def next_char() -> str:
            """The next non-space character (left at buf[0]), or "" at the end of the file."""
            nonlocal buf, line_at_buf
            while True:
                stripped = buf.lstrip()
                line_at_buf += buf.count("\n", 0, len(buf) - len(stripped))
                buf = stripped
                if buf or not fill():
                    return buf[:1]

        def expected(what: str, found: str) -> DataError:
            shown = repr(found) if found else "the end of the file"
            return DataError(
                f"{_where(path, line_at_buf)}: expected {what}, found {shown}; a .json file holds "
                "one array of objects, or one object per line"
            )

        if next_char() != "[":
            raise expected("'['", next_char())
        buf = buf[1:]
        count = 0
        while True:
            c = next_char()
            if c == "]":
                return
            if count:
                if c != ",":
                    raise expected("',' or ']'", c)
                buf = buf[1:]
                c = next_char()
            if c != "{":
                raise expected("an object '{'", c)
            while True:
                try:
                    value, end = decoder.raw_decode(buf)
                    break
                except json.JSONDecodeError as exc:
                    # Either the object goes on past the window (read more) or it is malformed.
                    if exhausted or len(buf) > MAX_LINE_BYTES or not fill():
                        raise DataError(
                            f"{_where(path, line_at_buf + exc.lineno - 1)}: not valid JSON at "
                            f"character {exc.colno} ({exc.msg})"
                        ) from None
            count += 1
            if count % STOP_EVERY == 0:
                _check_stop(stop)
            yield line_at_buf, value
            line_at_buf += buf.count("\n", 0, end)
            buf = buf[end:]


def _first_char(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    return head[:1].decode("ascii", "replace")


def file_format(path: str | os.PathLike[str]) -> str:
    """ "csv", "jsonl" or "json" (an array), from the suffix and, for .json, the first character."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path}: unsupported format {suffix or '(no suffix)'}; use .csv, .json or .jsonl")
    if suffix == ".csv":
        return "csv"
    return "json" if _first_char(p) == "[" else "jsonl"


def records(path: str | os.PathLike[str], stop: threading.Event | None = None) -> Iterator[tuple[int, Record]]:
    """(line number, record) for every row of a data file. Raises DataError with the line, Cancelled on stop."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"no data file at {path}")
    fmt = file_format(p)
    reader = {"csv": _csv_records, "jsonl": _jsonl_records, "json": _json_array_records}[fmt]
    return reader(p, stop)


# -- labels ---------------------------------------------------------------------------------------------


def label_key(value: Any) -> str:
    """A label's class name: integers (3, "3", 3.0) as their decimal text, strings as written (trimmed)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value))
    return str(value).strip()


def order_labels(names: set[str] | list[str]) -> list[str]:
    """Class ids follow numeric order when every name is an integer (0..n-1 keep their ids), else sorting."""
    names = list(set(names))
    if names and all(is_int_text(n) for n in names):
        return sorted(names, key=int)
    return sorted(names)


def is_int_text(text: str) -> bool:
    t = text.strip()
    return bool(t) and (t.lstrip("-").isdigit()) and t.count("-") <= 1 and not t.startswith("--")


def _is_float_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _settings_naming(task: str, column: str, pair_column: str | None) -> str:
    """The settings a user changes when `column` is missing, named as the spec and the dialog name them."""
    if task == "question-answering":
        return "question_column, context_column and answers_column"
    if column == pair_column:
        return "text_pair_column"
    return "text_column and target_column" if task == "seq2seq" else "text_column and label_column"


def _missing(value: Any, csv_cell: bool) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str):
        stripped = value.strip()
        return not stripped or (csv_cell and stripped.lower() in NULL_CELLS)
    return False


def _check_label(value: Any, where: str | At, csv_cell: bool) -> str:
    if _missing(value, csv_cell):
        raise DataError(f"{where}: the label is empty ({value!r}); fill it in or drop the row")
    if isinstance(value, bool):
        return label_key(value)
    if isinstance(value, float) or (isinstance(value, str) and not is_int_text(value) and _is_float_text(value)):
        number = float(value)
        if not math.isfinite(number) or not number.is_integer():
            raise DataError(
                f"{where}: the label {value!r} is a real number: regression is not supported; "
                "use class names or integer class ids"
            )
        return str(int(number))
    if isinstance(value, (int, str)):
        return label_key(value)
    raise DataError(f"{where}: a label must be a class name or an integer, not {type(value).__name__}")


def _check_text(value: Any, where: str | At, csv_cell: bool) -> str:
    if type(value) is str:  # the common case, checked first: this runs once per row of a large file
        stripped = value.strip()
        if stripped and (not csv_cell or len(stripped) > 5 or stripped.lower() not in NULL_CELLS):
            return value
    if _missing(value, csv_cell):
        raise DataError(f"{where}: the text is empty ({value!r}); fill it in or drop the row")
    if not isinstance(value, str):
        raise DataError(f"{where}: the text must be a string, not {type(value).__name__} ({str(value)[:40]!r})")
    return value


# -- validation -----------------------------------------------------------------------------------------


@dataclass
class DataReport:
    """What a whole-file check found: enough for the job to trust the file without reading it twice."""

    path: str
    role: str  # "train" or "validation"
    format: str
    rows: int = 0
    columns: list[str] = field(default_factory=list)
    label_counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    size: int = 0
    mtime_ns: int = 0

    @property
    def labels(self) -> list[str]:
        return order_labels(self.label_counts)

    def unchanged(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return st.st_size == self.size and st.st_mtime_ns == self.mtime_ns


def clean_record(
    task: str,
    rec: Record,
    text_column: str,
    label_column: str,
    where: str | At,
    csv_cell: bool,
    labels: dict[Any, str] | None = None,
    pair_column: str | None = None,
    target_column: str | None = None,
) -> Record:
    """The columns a task trains on, checked: {"text", "label"} (+ "text_pair" with a pair column) | {"text"} |
    {"tokens", "tags"} | {"text", "target"} (seq2seq).

    `labels` remembers each raw label value's class name (a label is checked once, not once per row).
    """
    if task == "seq2seq":
        return _seq2seq_record(rec, text_column, target_column or "target", where, csv_cell)
    if task == "question-answering":
        return _qa_record(rec, text_column, pair_column or "context", label_column, where, csv_cell)
    labelled = FAMILIES[task].labelled if task in FAMILIES else True
    needed = [text_column] + ([pair_column] if pair_column else []) + ([label_column] if labelled else [])
    for column in needed:
        if column not in rec:
            columns = ", ".join(map(repr, rec)) or "none"
            which = _settings_naming(task, column, pair_column)
            raise DataError(f"{where}: no column {column!r} (this row has {columns}); check {which}")
    if task == "token-classification":
        words, tags = rec[text_column], rec[label_column]
        if not isinstance(words, list) or not isinstance(tags, list):
            raise DataError(
                f"{where}: token classification needs a list of words and a list of tags per row "
                "(a JSON or JSON Lines file)"
            )
        if not words:
            raise DataError(f"{where}, column {text_column!r}: an empty list of words")
        if len(words) != len(tags):
            raise DataError(f"{where}: {len(words)} words but {len(tags)} tags; each word needs one tag")
        for i, word in enumerate(words):
            _check_text(word, f"{where}, column {text_column!r}, word {i + 1}", False)
        return {
            "tokens": [str(w) for w in words],
            "tags": [
                _check_label(t, f"{where}, column {label_column!r}, tag {i + 1}", False) for i, t in enumerate(tags)
            ],
        }
    text = _check_text(rec[text_column], f"{where}, column {text_column!r}", csv_cell)
    if not labelled:
        return {"text": text}
    raw = rec[label_column]
    key = (type(raw), raw) if isinstance(raw, (str, int)) else None
    label = labels.get(key) if labels is not None and key is not None else None
    if label is None:
        label = _check_label(raw, f"{where}, column {label_column!r}", csv_cell)
        if labels is not None and key is not None and len(labels) < MAX_LABELS:
            labels[key] = label
    if pair_column:
        pair = _check_text(rec[pair_column], f"{where}, column {pair_column!r}", csv_cell)
        return {"text": text, "text_pair": pair, "label": label}
    return {"text": text, "label": label}


def column_value(rec: Record, column: str, where: str | At, which: str) -> Any:
    """A row's value of `column`, where "translation.en" reaches into a column of objects: the course's
    translation datasets (kde4, opus_books) keep each pair in one column, {"en": "...", "fr": "..."}, as
    run_translation.py reads them. A column whose own name holds the dot is taken first."""
    if column in rec:
        return rec[column]
    base, dot, key = column.partition(".")
    if dot and base in rec:
        inner = rec[base]
        if not isinstance(inner, dict):
            raise DataError(
                f"{where}, column {base!r}: holds {type(inner).__name__}, not an object with keys, so {column!r} "
                f"cannot reach {key!r} in it; check {which}"
            )
        if key not in inner:
            keys = ", ".join(map(repr, inner)) or "none"
            raise DataError(f"{where}, column {base!r}: no key {key!r} (its keys are {keys}); check {which}")
        return inner[key]
    columns = ", ".join(map(repr, rec)) or "none"
    raise DataError(f"{where}: no column {column!r} (this row has {columns}); check {which}")


def has_column(columns: Any, column: str) -> bool:
    """`column` names one of `columns`, or reaches into one with a dot ("translation.en")."""
    return column in columns or ("." in column and column.partition(".")[0] in columns)


def _seq2seq_record(rec: Record, text_column: str, target_column: str, where: str | At, csv_cell: bool) -> Record:
    source = column_value(rec, text_column, where, "text_column")
    target = column_value(rec, target_column, where, "target_column")
    text = _check_text(source, f"{where}, column {text_column!r}", csv_cell)
    if _missing(target, csv_cell):
        raise DataError(
            f"{where}, column {target_column!r}: the target is empty ({target!r}); the model would learn to "
            "write nothing: fill it in or drop the row"
        )
    return {"text": text, "target": _check_text(target, f"{where}, column {target_column!r}", csv_cell)}


def _qa_record(
    rec: Record, question_column: str, context_column: str, answers_column: str, where: str | At, csv_cell: bool
) -> Record:
    """A question-answering row: the question, the context, and SQuAD answers whose every answer_start points at
    its text in the context (the answers kept as JSON text: empty lists, an unanswerable question, have no
    Arrow type)."""
    for column in (question_column, context_column, answers_column):
        if column not in rec:
            columns = ", ".join(map(repr, rec)) or "none"
            raise DataError(
                f"{where}: no column {column!r} (this row has {columns}); check question_column, "
                "context_column and answers_column"
            )
    question = _check_text(rec[question_column], f"{where}, column {question_column!r}", csv_cell)
    context = _check_text(rec[context_column], f"{where}, column {context_column!r}", csv_cell)
    at = f"{where}, column {answers_column!r}"
    answers = rec[answers_column]
    if isinstance(answers, str) and csv_cell:
        try:
            answers = json.loads(answers)
        except json.JSONDecodeError:
            pass
    shape = '{"text": ["..."], "answer_start": [N]} (SQuAD\'s answers; empty lists for no answer)'
    if not isinstance(answers, dict) or not {"text", "answer_start"} <= set(answers):
        raise DataError(f"{at}: expected {shape}, found {str(answers)[:60]!r}")
    texts, starts = answers["text"], answers["answer_start"]
    if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
        raise DataError(f"{at}: text and answer_start must be two lists of the same length, as in {shape}")
    for n, (text, start) in enumerate(zip(texts, starts)):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{at}, answer {n + 1}: the answer text is empty; give its text or use empty lists")
        if isinstance(start, bool) or not isinstance(start, int):
            raise DataError(f"{at}, answer {n + 1}: answer_start must be a whole number, not {start!r}")
        if context[start : start + len(text)] != text:
            found = context.find(text)
            fix = (
                f"set answer_start to {found}, where {text!r} is in the context"
                if found >= 0
                else f"{text!r} is nowhere in the context: fix the answer or the context"
            )
            raise DataError(
                f"{at}, answer {n + 1}: answer_start {start} points at "
                f"{context[start : start + len(text)]!r}, not at the answer {text!r}; {fix}"
            )
    return {
        "question": question,
        "context": context,
        "answers": json.dumps({"text": texts, "answer_start": starts}, ensure_ascii=False),
    }


def validate_file(
    path: str,
    task: str,
    text_column: str,
    label_column: str,
    role: str = "train",
    stop: threading.Event | None = None,
    row_labels: list[str] | None = None,
    pair_column: str | None = None,
    target_column: str | None = None,
) -> DataReport:
    """Check every row of a data file in one pass with bounded memory. Raises DataError at the first problem.

    `row_labels`, when given, gets each row's class in file order (one shared string per class: a pointer a
    row), for working out which classes a random split leaves in the training part.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"no {role} data file at {path}")
    st = p.stat()
    report = DataReport(path=str(p), role=role, format=file_format(p), size=st.st_size, mtime_ns=st.st_mtime_ns)
    csv_cell = report.format == "csv"
    counts = report.label_counts
    columns: dict[str, None] = {}
    seen: dict[Any, str] = {}
    for number, rec in records(p, stop):
        if report.rows < 64:
            columns.update(dict.fromkeys(rec))
        clean = clean_record(
            task, rec, text_column, label_column, At(p, number), csv_cell, seen, pair_column, target_column
        )
        report.rows += 1
        if row_labels is not None and "label" in clean:
            row_labels.append(clean["label"])
        for tag in clean.get("tags") or ([clean["label"]] if "label" in clean else []):
            if tag not in counts and len(counts) >= MAX_LABELS:
                raise DataError(
                    f"{_where(p, number, label_column)}: more than {MAX_LABELS:,} distinct labels; "
                    "is label_column the column of classes?"
                )
            counts[tag] = counts.get(tag, 0) + 1
    report.columns = list(columns)
    if report.rows == 0:
        raise DataError(f"{path}: the {role} data has no rows")
    if len(counts) > MANY_LABELS:
        report.warnings.append(
            f"{path}: {len(counts):,} distinct labels in {report.rows:,} rows; is "
            f"{label_column!r} the column of classes?"
        )
    return report


@dataclass
class Preview:
    path: str
    columns: list[str]
    rows: list[Record]  # up to `limit`, as read
    more: bool  # the file has rows beyond those


def peek(path: str, limit: int = 2000) -> Preview:
    """The first rows of a data file, for a preview (the whole file is checked when a run is created)."""
    rows: list[Record] = []
    more = False
    for _, rec in records(path):
        if len(rows) == limit:
            more = True
            break
        rows.append(rec)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return Preview(str(path), columns, rows, more)


# -- datasets: a directory saved with save_to_disk, or a hub dataset (loaded by the caller) -----------------


def load_saved(path: str) -> dict[str, Any]:
    """The splits of a dataset saved with save_to_disk, by name (a lone Dataset is the train split)."""
    p = Path(path)
    if not (p / "dataset_dict.json").is_file() and not (
        (p / "dataset_info.json").is_file() and (p / "state.json").is_file()
    ):
        raise DataError(
            f"{path} is a directory but not a dataset saved with save_to_disk (no dataset_dict.json, nor "
            "dataset_info.json and state.json); name a CSV / JSON / JSON Lines file or such a directory"
        )
    import datasets

    datasets.disable_progress_bars()
    try:
        loaded = datasets.load_from_disk(str(p))
    except Exception as exc:  # a damaged arrow file or a half-written directory: say which, not a traceback
        raise DataError(f"{path}: cannot be read as a saved dataset ({str(exc)[:200]})") from None
    return dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}


def pick_splits(splits: dict[str, Any], split: str, source: str) -> dict[str, tuple[str, Any]]:
    """{"train": (name, the split asked for), "validation": ("validation", the dataset's own validation split)
    when it has one}, as run_glue.py takes raw_datasets["train"] and raw_datasets["validation"]."""
    if split not in splits:
        raise DataError(
            f"{source} has no split {split!r}; its splits are {', '.join(map(repr, splits))}: pick one with "
            "--data-split (hub_split in a spec)"
        )
    out = {"train": (split, splits[split])}
    if split != "validation" and "validation" in splits:
        out["validation"] = ("validation", splits["validation"])
    return out


def split_label_names(split: Any, column: str) -> list[str]:
    """The class names of a ClassLabel column (or a sequence of ClassLabel, as NER tags are); empty otherwise."""
    feature = split.features.get(column)
    names = getattr(feature, "names", None) or getattr(getattr(feature, "feature", None), "names", None)
    return [str(n) for n in names] if names else []


def check_split_columns(
    split: Any,
    task: str,
    text_column: str,
    label_column: str,
    pair_column: str | None,
    where: str,
    target_column: str | None = None,
) -> None:
    """DataError naming the first column a split lacks, with the columns it has."""
    labelled = FAMILIES[task].labelled if task in FAMILIES else True
    needed = [text_column] + ([pair_column] if pair_column else []) + ([label_column] if labelled else [])
    if task == "seq2seq":
        needed = [text_column, target_column or "target"]
    elif task == "question-answering":  # question, context, answers (as reader_columns names them)
        needed = [text_column, pair_column or "context", label_column]
    for column in needed:
        nested = task == "seq2seq" and column not in split.column_names and has_column(split.column_names, column)
        if nested:  # "translation.en": the key checked up front where the features name the keys
            base, _, key = column.partition(".")
            feature = split.features.get(base)
            keys = getattr(feature, "languages", None) or (list(feature) if isinstance(feature, dict) else None)
            if keys and key not in keys:
                raise DataError(
                    f"{where}, column {base!r}: no key {key!r} (its keys are {', '.join(map(repr, keys))}); "
                    "check text_column and target_column"
                )
            continue
        if column not in split.column_names:
            which = _settings_naming(task, column, pair_column)
            raise DataError(
                f"{where}: no column {column!r}; its columns are {', '.join(map(repr, split.column_names))}; "
                f"check {which}"
            )


def clean_batch(
    batch: dict[str, list[Any]],
    task: str,
    text_column: str,
    label_column: str,
    pair_column: str | None,
    names: list[str],
    where: str,
    first_row: int,
    target_column: str | None = None,
) -> list[Record]:
    """The rows of one batch of a `datasets` split, checked as a file's rows are (clean_record), a ClassLabel's
    ids turned into its names; a problem names the split's row (1-based)."""
    target = (target_column or "target") if task == "seq2seq" else None
    columns = [c for c in (text_column, pair_column, label_column, target) if c and c in batch]
    if task == "seq2seq":  # a column reached into ("translation.en") comes with its whole column
        columns = list(dict.fromkeys(c if c in batch else c.partition(".")[0] for c in (text_column, target) if c))
        columns = [c for c in columns if c in batch]
    size = len(batch[columns[0]]) if columns else 0
    out = []
    for i in range(size):
        rec = {c: batch[c][i] for c in columns}
        tags = rec.get(label_column)
        if names and label_column in rec:
            named = lambda v: names[v] if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(names) else v  # noqa: E731
            rec[label_column] = [named(t) for t in tags] if isinstance(tags, list) else named(tags)
        out.append(
            clean_record(
                task,
                rec,
                text_column,
                label_column,
                f"{where}, row {first_row + i + 1}",
                False,
                None,
                pair_column,
                target_column,
            )
        )
    return out


def split_where(source: str, name: str) -> str:
    return f"{source}, split {name!r}"


def dataset_report(split: Any, spec_data: Any, task: str, source: str, name: str, role: str) -> DataReport:
    """Every row of a `datasets` split checked, as validate_file checks a file's rows (one pass, label counts).
    Its size and time stay 0: a saved directory is checked again at each start (it is rewritten in place)."""
    where = split_where(source, name)
    check_split_columns(
        split,
        task,
        spec_data.text_column,
        spec_data.label_column,
        spec_data.text_pair_column,
        where,
        getattr(spec_data, "target_column", None),
    )
    names = split_label_names(split, spec_data.label_column)
    report = DataReport(path=source, role=role, format="dataset", columns=list(split.column_names))
    counts = report.label_counts
    row = 0
    for batch in split.iter(batch_size=1000):
        for clean in clean_batch(
            batch,
            task,
            spec_data.text_column,
            spec_data.label_column,
            spec_data.text_pair_column,
            names,
            where,
            row,
            getattr(spec_data, "target_column", None),
        ):
            row += 1
            for tag in clean.get("tags") or ([clean["label"]] if "label" in clean else []):
                counts[tag] = counts.get(tag, 0) + 1
    report.rows = row
    if row == 0:
        raise DataError(f"{where}: the {role} data has no rows")
    return report
