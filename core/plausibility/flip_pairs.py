"""Left/right keypoint pairs: the project's ``flip_pairs``, or pairs read from mirror-symmetric names."""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.config import ProjectConfig

SIDES = {"left": "right", "right": "left", "l": "r", "r": "l"}
WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+|[^A-Za-z\d]+")
"""A name's words: runs of capitals, capitalised or lower-case words, numbers and separators
(``LeftEar``: Left, Ear; ``paw_l``: paw, _, l; ``earR``: ear, R; ``paw1LH``: paw, 1, LH)."""


def mirror_pairs(keypoints: Sequence[str]) -> list[tuple[str, str]]:
    """Pairs of keypoints whose names differ only in one side word, left/right or l/r in any case
    (``paw_l``/``paw_r``, ``LeftEar``/``RightEar``, ``L_eye``/``R_eye``, ``earL``/``earR``), in
    keypoint order; a keypoint is in one pair at most."""
    names = set(keypoints)
    pairs: list[tuple[str, str]] = []
    paired: set[str] = set()
    for name in keypoints:
        words = WORD.findall(name)
        for i, word in enumerate(words):
            side = SIDES.get(word.lower())
            if side is None or name in paired:
                continue
            other = "".join([*words[:i], _same_case(side, word), *words[i + 1 :]])
            if other in names and other not in paired:
                pairs.append((name, other))
                paired.update((name, other))
    return pairs


def _same_case(word: str, like: str) -> str:
    """``word`` in the case of ``like`` (``LEFT``, ``Left`` or ``left``)."""
    if like.isupper():
        return word.upper()
    return word.capitalize() if like[0].isupper() else word


def project_flip_pairs(project: ProjectConfig) -> list[tuple[str, str]]:
    """The project's ``flip_pairs``, or when it lists none the pairs of mirror-symmetric names."""
    return [(a, b) for a, b in project.flip_pairs] or mirror_pairs(project.keypoints)
