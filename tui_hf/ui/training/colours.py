"""Colours the training views share: one per compared run, per curve role, per run status."""

OVERLAY_STYLES = ("#5fafff", "#ffaf5f", "#af87ff", "#5fd7af", "#ff87af")
ROLE_STYLES = {"raw": "#555555", "smoothed": "bold #ffffff", "eval": "bold #ff5f5f", "lr": "#5fd75f"}
STATUS_COLOURS = {
    "running": "green",
    "finished": "#5fafff",
    "failed": "red",
    "died": "red",
    "stopped": "yellow",
    "stopping": "yellow",
    "preparing": "cyan",
    "starting": "cyan",
}
