"""The input-size rule every network has: height and width multiples of its total downsampling."""

from __future__ import annotations

from core.errors import ConfigError


def check_input_size(height: int, width: int, multiple: int, model_name: str) -> None:
    """Raise a ConfigError naming each wrong size and the nearest valid ones."""
    for name, size in (("height", height), ("width", width)):
        if size % multiple or size == 0:
            below = max(multiple, size // multiple * multiple)
            above = below if below > size else below + multiple
            nearest = f"{below} or {above}" if below != above else str(below)
            raise ConfigError(
                f"image {name} {size} is not a multiple of {multiple}, which the {model_name} model needs "
                f"(image_{name} in the training settings); resize images to a {name} of {nearest}"
            )
