"""A screenshot check shared by the browser tests."""

from __future__ import annotations

import io

import matplotlib.image as plt_image
import numpy as np

MIN_COLOURS = 50


def assert_not_blank(png: bytes) -> None:
    """A rendered page has text, borders and anti-aliasing: many distinct colours."""
    pixels = plt_image.imread(io.BytesIO(png))
    colours = np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)
    assert len(colours) > MIN_COLOURS, f"the page rendered (nearly) blank: {len(colours)} colours"
