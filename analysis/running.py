"""Moving means and running minima and maxima along the first axis of an array, for the audio
detectors (analysis/speech.py, analysis/voicemodel.py). Pure numpy."""

from __future__ import annotations

import numpy as np


def moving_mean(values: np.ndarray, width: int) -> np.ndarray:
    """Centred moving mean along the first axis, over what exists at the ends."""
    if width <= 1:
        return values
    before = width // 2
    # In float64 whatever the input: a float32 running sum loses a quiet stretch after a loud one.
    padded = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0, dtype=np.float64)])
    index = np.arange(len(values))
    low = np.maximum(index - before, 0)
    high = np.minimum(index - before + width, len(values))
    shape = (-1,) + (1,) * (values.ndim - 1)
    mean: np.ndarray = (padded[high] - padded[low]) / (high - low).reshape(shape)
    return mean


def running(values: np.ndarray, width: int, reduce: np.ufunc, *, ahead: bool) -> np.ndarray:
    """``reduce`` (minimum or maximum) along the first axis over the ``width`` values ending at each
    (``ahead=False``) or starting at each (``ahead=True``), over what exists at the ends. Van Herk and
    Gil-Werman's method: a few passes whatever the width."""
    if width <= 1 or len(values) == 0:
        return values
    if ahead:
        return running(values[::-1], width, reduce, ahead=False)[::-1]
    count = len(values)
    fill = -np.inf if reduce is np.maximum else np.inf
    blocks = -(-(count + width - 1) // width)
    padded = np.full((blocks * width, *values.shape[1:]), fill, values.dtype)
    padded[width - 1 : width - 1 + count] = values
    shaped = padded.reshape(blocks, width, *values.shape[1:])
    forward = reduce.accumulate(shaped, axis=1).reshape(padded.shape)
    backward = reduce.accumulate(shaped[:, ::-1], axis=1)[:, ::-1].reshape(padded.shape)
    # The window ending at padded index j + width - 1 starts at j.
    reduced: np.ndarray = reduce(backward[:count], forward[width - 1 : width - 1 + count])
    return reduced
