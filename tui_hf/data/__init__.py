"""Data shipped with tui-hf, written for this project (MIT, as the project):

- sentiment.csv: a small sentiment dataset (text, label positive / negative).
- paraphrase.csv: 240 sentence pairs (sentence1, sentence2, label), MRPC's columns and labels: 1 when the
  second sentence says what the first says, 0 when a name, a thing or the action differs.
- entities.jsonl: 240 sentences as word lists (tokens) with CoNLL-style tags (ner_tags: B-/I- PER, ORG, LOC
  and O), made-up people, organisations and places, for token-classification training.
- headlines.jsonl: 200 sentences (source) and their one-line summaries (target), for seq2seq training:
  who did what, without when or why.
- qa_people.jsonl: 200 questions on short made-up biographies (question, context, answers in SQuAD's
  {"text": [...], "answer_start": [...]} form), one in five unanswerable from its context (empty lists).
"""

from pathlib import Path

SENTIMENT_CSV = Path(__file__).with_name("sentiment.csv")
PARAPHRASE_CSV = Path(__file__).with_name("paraphrase.csv")
ENTITIES_JSONL = Path(__file__).with_name("entities.jsonl")
HEADLINES_JSONL = Path(__file__).with_name("headlines.jsonl")
QA_JSONL = Path(__file__).with_name("qa_people.jsonl")
