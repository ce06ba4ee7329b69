"""tui-hf: explore Hugging Face transformers from the terminal.

Importing this package is cheap on purpose: torch and transformers load only when a model does.
"""

__version__ = "0.1.0"
