"""Labeling a task in Label Studio's page as a person does: pick a keypoint by its hotkey, click on
the frame, submit."""

from __future__ import annotations

from pathlib import Path

ROWS = ".dm-table__row-wrapper, [class*='table-row'], [class*='Table_row']"


def label_first_task(page, clicks: dict[str, tuple[float, float]], artifacts: Path, prefix: str) -> None:
    """Open the data manager's first task and click ``clicks`` (keypoint -> fraction of the frame's
    width and height), the keypoints in hotkey order 1, 2, ...; then submit. Screenshots go to
    ``artifacts``."""
    page.locator(ROWS).first.click()
    page.locator("img[src*='/frames/'], canvas").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=artifacts / f"{prefix}-labeling.png")
    # the frame as shown: its image element (the canvas layers over it can be wider than the frame
    # once the frame is scaled to fit the window's height)
    # the frame being labeled is drawn on stacked canvas layers, left-aligned; once the frame is
    # scaled to fit the window's height the layers are wider than it, so its width comes from its
    # own proportions
    boxes = [tuple(b.values()) for c in page.locator("canvas").all() if (b := c.bounding_box())]
    x, y, w, h = max(set(boxes), key=boxes.count)
    natural = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll(\"img[src*='/frames/']\")]"
        ".map(i => i.naturalWidth / i.naturalHeight).filter(r => r > 0))"
    )
    w, h = min(w, h * natural), min(h, w / natural)
    for hotkey, (fx, fy) in enumerate(clicks.values(), start=1):
        page.keyboard.press(str(hotkey))
        page.mouse.click(x + fx * w, y + fy * h)
        page.wait_for_timeout(300)
    page.screenshot(path=artifacts / f"{prefix}-clicked.png")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_timeout(1000)
    page.screenshot(path=artifacts / f"{prefix}-submitted.png")
