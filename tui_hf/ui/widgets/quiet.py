"""Updates that repaint a widget without laying out the whole screen when its size stays the same.

Textual lays out every widget on the screen (about 70 in the main view) when one asks for a layout: a
`Static.update` always asks, and so does a new `virtual_size`. Per key that was two to four layouts, most of
a key's wait; these helpers ask only when the widget's rows really change.
"""

from __future__ import annotations

from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.widget import Widget
from textual.widgets import Static


def update_static(static: Static, content: str) -> None:
    """Show `content` in `static`: a layout only when its height is auto and it needs another number of rows."""
    if static.content == content:
        return
    width = static.content_region.width
    before = static.content_region.height
    static.update(content, layout=False)
    if not width or not static.is_mounted:
        static.refresh(layout=True)  # not laid out yet: its size is unknown anyway
        return
    height = static.styles.height
    if height is not None and not height.is_auto:
        return  # a fixed height (CSS): longer text is cut or scrolls, the screen keeps its layout
    rows = static.get_content_height(static.container_size, static.app.size, width)
    limit = static.styles.max_height
    if limit is not None:
        rows = min(rows, int(limit.resolve(static.container_size, static.app.size)))
    if rows != before:
        static.refresh(layout=True)


def set_virtual_size(view: ScrollView, size: Size) -> None:
    """A scroll view's new virtual size: its scrollbars follow; its own region (1fr) does not change, so no
    layout of the screen unless a scrollbar comes or goes (Textual's scrollbar reactives ask for that)."""
    if view.virtual_size == size:
        return
    if not view.is_mounted or not view.size:
        view.virtual_size = size
        return
    view.set_reactive(Widget.virtual_size, size)
    view._scroll_update(size)  # the scrollbars' length and position, as a layout would set them
