"""A project's Label Studio labeling interface: one keypoint label per keypoint (distinct colours,
a hotkey each, usable once per frame), one image per camera view, and instructions that name the
controls and draw the skeleton (keypoint labels cannot show edges)."""

from __future__ import annotations

import colorsys
import html
import math
from xml.sax.saxutils import quoteattr

# Distinct colours for the first 20 keypoints (Trubetskoy's list); beyond, evenly spaced hues.
PALETTE = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c",
    "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#808000", "#ffd8b1",
    "#000075", "#808080",
)  # fmt: skip
HOTKEYS = "1234567890qwertyiopasdfgjklzxcvbnm"  # no "h" (Label Studio hides regions with it)
# one line over the frame (the full controls are in the project's Instructions)
HINT = "Press a keypoint's key, click the body part; Ctrl+Enter submits. Instructions: all controls."
# what the frame may take of the window's height, so that it is wholly visible when it opens (Label
# Studio's default leaves 194 px for its own bars, and the hint and keypoint labels above the frame
# then push its bottom edge out of view)
FRAME_MAX_HEIGHT = "calc(100vh - 300px)"
CONTROLS = (
    "Pick a keypoint (click its label or press its key), then click that body part on the frame. "
    "Each keypoint can be placed once per frame; leave out the ones you cannot see. Drag a point to "
    "move it, select it and press Backspace to remove it. Submit (Ctrl+Enter) when the frame is done; "
    "Skip if it cannot be labeled."
)


def colour(i: int) -> str:
    if i < len(PALETTE):
        return PALETTE[i]
    r, g, b = colorsys.hsv_to_rgb(((i - len(PALETTE)) * 0.618034) % 1.0, 0.75, 0.9)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def control_name(view: str, views: list[str]) -> str:
    """The KeyPointLabels control of ``view`` (``keypoints``, or ``keypoints_<view>`` with cameras)."""
    return "keypoints" if len(views) == 1 else f"keypoints_{view}"


def image_field(view: str, views: list[str]) -> str:
    """The task data field holding ``view``'s image URL (``image``, or ``image_<view>``)."""
    return "image" if len(views) == 1 else f"image_{view}"


def view_of_control(name: str, views: list[str]) -> str | None:
    return next((v for v in views if control_name(v, views) == name), None)


def label_config(keypoints: list[str], views: list[str]) -> str:
    """The ``<View>`` XML: with several views one image and one set of keypoint labels each (the
    hotkeys on the first view's, so that they never clash)."""
    parts = ["<View>", f'<Header value={quoteattr(HINT)} size="6"/>']
    for v, view in enumerate(views):
        if len(views) > 1:
            parts.append(f'<Header value={quoteattr(view)} size="4"/>')
        image = f"frame_{view}" if len(views) > 1 else "frame"
        parts.append(f'<KeyPointLabels name="{control_name(view, views)}" toName="{image}" strokeWidth="2">')
        for i, name in enumerate(keypoints):
            hotkey = f' hotkey="{HOTKEYS[i]}"' if v == 0 and i < len(HOTKEYS) else ""
            parts.append(f'  <Label value={quoteattr(name)} background="{colour(i)}"{hotkey} maxUsages="1"/>')
        parts.append("</KeyPointLabels>")
        parts.append(
            f'<Image name="{image}" value="${image_field(view, views)}" zoom="true" zoomControl="true" '
            f'maxHeight="{FRAME_MAX_HEIGHT}"/>'
        )
    parts.append("</View>")
    return "\n".join(parts)


def instructions(keypoints: list[str], skeleton: list[tuple[str, str]]) -> str:
    """HTML: the controls, each keypoint with its colour and key, and the skeleton drawn as a graph
    (keypoints on a circle, edges as lines)."""
    size, radius = 360, 140
    at = {
        name: (size / 2 + radius * math.cos(2 * math.pi * i / len(keypoints) - math.pi / 2),
               size / 2 + radius * math.sin(2 * math.pi * i / len(keypoints) - math.pi / 2))
        for i, name in enumerate(keypoints)
    }  # fmt: skip
    lines = [
        f'<line x1="{at[a][0]:.0f}" y1="{at[a][1]:.0f}" x2="{at[b][0]:.0f}" y2="{at[b][1]:.0f}" '
        'stroke="#555" stroke-width="2"/>'
        for a, b in skeleton
    ]
    dots = [
        f'<circle cx="{x:.0f}" cy="{y:.0f}" r="6" fill="{colour(i)}"/>'
        f'<text x="{x + 8:.0f}" y="{y + 4:.0f}" font-size="11">{html.escape(name)}</text>'
        for i, (name, (x, y)) in enumerate(at.items())
    ]
    rows = "".join(
        f'<li><span style="color:{colour(i)}">&#9679;</span> {html.escape(name)}'
        f"{f' (key {HOTKEYS[i]})' if i < len(HOTKEYS) else ''}</li>"
        for i, name in enumerate(keypoints)
    )
    edges = ", ".join(f"{html.escape(a)} – {html.escape(b)}" for a, b in skeleton) or "none"
    return (
        f"<p>{html.escape(CONTROLS)}</p><p>Keypoints:</p><ul>{rows}</ul>"
        f"<p>Skeleton (which keypoints connect): {edges}</p>"
        f'<svg width="{size}" height="{size}" xmlns="http://www.w3.org/2000/svg">{"".join(lines + dots)}</svg>'
    )
