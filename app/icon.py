"""posecloud's icon (the browser tab's, for every page of the one address), drawn here: Streamlit's
Material icons as page icons are fetched from Google's servers, which a lab's machine may not reach
(and need not be told about)."""

from __future__ import annotations

import io
from functools import cache

from PIL import Image, ImageDraw

INK = (255, 75, 75, 255)  # the pages' accent colour


@cache
def paw_icon(size: int = 64) -> Image.Image:
    """A paw print: four toes over a pad."""
    icon = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(icon)
    s = size / 64
    for x, y in ((14, 22), (26, 12), (38, 12), (50, 22)):
        draw.ellipse([(x - 6) * s, (y - 7) * s, (x + 6) * s, (y + 7) * s], fill=INK)
    draw.ellipse([17 * s, 30 * s, 47 * s, 56 * s], fill=INK)
    return icon


@cache
def paw_png() -> bytes:
    buffer = io.BytesIO()
    paw_icon().save(buffer, format="PNG")
    return buffer.getvalue()
