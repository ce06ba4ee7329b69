"""The Textual layer: renders what tui_hf.core returns and dispatches work to thread workers."""
