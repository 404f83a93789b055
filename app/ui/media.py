"""Media the browser fetches from the service itself (with the session cookie), not through
Streamlit: videos stream with seeking (HTTP ranges) and are never loaded into the UI process."""

from __future__ import annotations

import html

import streamlit as st


def play(path: str, height_px: int = 420) -> None:
    """A video player for a file the service serves at ``path`` (same origin)."""
    st.html(
        f'<video controls preload="metadata" style="width:100%;max-height:{height_px}px;background:#000" '
        f'src="{html.escape(path, quote=True)}"></video>'
    )
