"""tui-hf: explore Hugging Face transformers from the terminal.

Importing this package is cheap on purpose: torch and transformers load only when a model does.
`from tui_hf import TuiHfCallback` gives the TrainerCallback that makes any training script attachable.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["TuiHfCallback", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "TuiHfCallback":  # imports transformers: only when asked for
        from tui_hf.core.training.callback import TuiHfCallback

        return TuiHfCallback
    raise AttributeError(name)
