"""The part of tui-hf that knows no screen: models, tokenization, tasks, training.

Nothing under this package imports Textual; torch and transformers are imported inside functions so that
importing the core stays as cheap as the UI needs it to be.
"""
