"""Settings for ``collectstatic`` while the Docker image is built, and for nothing else.

The image is built without secrets, so the build loads the development settings (which need none),
but the static files it collects are served by production, whose WhiteNoise storage looks every
``{% static %}`` name up in a manifest of hashed file names. A development ``collectstatic`` writes no
manifest, and production would then fail on the first page with "Missing staticfiles manifest entry".
So this module keeps the development settings and swaps in the storage production uses. Keep the
backend below in step with ``STORAGES["staticfiles"]`` for production in ``proctor/settings.py``.
"""

from __future__ import annotations

from proctor.settings import *  # noqa: F403 -- the point is to reuse every setting
from proctor.settings import STORAGES

STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
