"""Invigil's core: settings, crypto, audit log, storage and realtime helpers. Imports no app."""

from __future__ import annotations

import os

# One thread per BLAS call, set before numpy is first imported (every Invigil process imports this
# package first). A worker analyses one session per core, and numpy's OpenBLAS otherwise runs small
# products (the voice model's LSTM step, analysis/voicemodel.py) on spinning threads: twice the CPU
# time for no gain. A deployment may still set its own value.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from proctor.celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
