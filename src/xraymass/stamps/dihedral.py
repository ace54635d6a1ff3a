"""The 8 symmetries of the square (dihedral group D4): the paper's 2 axial reflections x 4 rotations.

Augmentation index a = 4*f + k: reflect left-right (about the vertical axis) if f = 1, then
rotate by k*90 degrees counter-clockwise (numpy.rot90 on [row, column] images).
a = 0 is the image itself. A reflection about the horizontal axis is a = 6 (the left-right
reflection rotated by 180 degrees), so both of the paper's axial reflections are among the 8.
"""
from __future__ import annotations

import numpy as np

N_TRANSFORMS = 8


def transform(image: np.ndarray, a: int) -> np.ndarray:
    """Apply transform `a` (0-7) to the last two axes of `image`."""
    if not 0 <= a < N_TRANSFORMS:
        raise ValueError(f"dihedral transform index must be 0-7, got {a}")
    reflect, quarter_turns = divmod(a, 4)
    if reflect:
        image = np.flip(image, axis=-1)
    return np.rot90(image, quarter_turns, axes=(-2, -1))


def all_transforms(image: np.ndarray) -> np.ndarray:
    """The 8 transforms of a square image [n, n], stacked as [8, n, n] in index order."""
    if image.ndim != 2 or image.shape[0] != image.shape[1]:
        raise ValueError(f"expected a square image, got shape {image.shape}")
    return np.stack([transform(image, a) for a in range(N_TRANSFORMS)])
