"""Writes tui_hf/data/sentiment.csv: a small English sentiment dataset made for tui-hf.

Reviews of films, books, restaurants, gadgets and trips, composed from hand-written openings and
judgements so that the shipped MiniLM can be finetuned offline in a minute on a CPU. Deterministic.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

SUBJECTS = [
    "the film",
    "this movie",
    "the book",
    "the novel",
    "this restaurant",
    "the pasta",
    "the hotel",
    "our trip",
    "the new phone",
    "this laptop",
    "the headphones",
    "the concert",
    "the museum",
    "the service",
    "the sequel",
    "the app",
    "the coffee",
    "the game",
    "the show",
    "the course",
]
POSITIVE = [
    "was wonderful from start to finish",
    "exceeded every expectation I had",
    "is the best I have tried",
    "made me smile the whole time",
    "was worth every penny",
    "is beautifully made",
    "felt warm and generous",
    "works perfectly and looks great",
    "was a joy",
    "left me wanting more in a good way",
    "is clever, funny and moving",
    "was fast, friendly and delicious",
    "is a delight",
    "kept me hooked until the last page",
    "was an absolute pleasure",
    "impressed all of us",
]
NEGATIVE = [
    "was a complete waste of time",
    "fell apart after a week",
    "is the worst I have tried",
    "bored me to tears",
    "was not worth the money",
    "is badly made",
    "felt cold and careless",
    "crashes constantly and looks cheap",
    "was a disaster",
    "left me angry and disappointed",
    "is dull, slow and pointless",
    "was slow, rude and bland",
    "is a letdown",
    "lost me after the first chapter",
    "was a miserable experience",
    "annoyed all of us",
]
OPENERS = ["Honestly,", "To be fair,", "I have to say", "Well,", "After two weeks,", "Frankly,", "", "", "", ""]
CLOSERS = [
    "",
    "",
    "",
    " I would recommend it.",
    " Never again.",
    " Five stars.",
    " One star.",
    " Go see it.",
    " Avoid it.",
]


def main() -> None:
    rng = random.Random(2024)
    rows = []
    for label, phrases in (("positive", POSITIVE), ("negative", NEGATIVE)):
        for subject in SUBJECTS:
            for phrase in rng.sample(phrases, 8):
                opener = rng.choice(OPENERS)
                closer = rng.choice(
                    [
                        c
                        for c in CLOSERS
                        if not (
                            (label == "positive" and c in (" Never again.", " One star.", " Avoid it."))
                            or (label == "negative" and c in (" I would recommend it.", " Five stars.", " Go see it."))
                        )
                    ]
                )
                text = f"{opener} {subject} {phrase}.{closer}".strip()
                rows.append({"text": text[0].upper() + text[1:], "label": label})
    rng.shuffle(rows)
    out = Path(__file__).resolve().parents[1] / "tui_hf" / "data" / "sentiment.csv"
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    main()
