"""Widgets and helpers both wings share: the status bar, the log pane, choices, markup escaping, cell widths."""
