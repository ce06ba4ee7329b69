"""The training wing of the screen: the runs list, the live run view, the cockpit dialogs (X-ray, early stop,
compare), the New job dialog, and `tui-hf attach`. Reads runs through core/training only; never imports the
inference panes."""
