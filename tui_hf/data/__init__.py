"""Data shipped with tui-hf: sentiment.csv, a small sentiment dataset made for the project."""

from pathlib import Path

SENTIMENT_CSV = Path(__file__).with_name("sentiment.csv")
