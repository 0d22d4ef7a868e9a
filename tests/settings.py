"""Test settings: the production settings module on a throwaway data folder and a fixed test key.

DATABASE_URL and REDIS_URL pass through, so the same suite runs on embedded defaults and on real
PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("INVIGIL_DATA_DIR", tempfile.mkdtemp(prefix="invigil-test-"))
# A fixed, test-only key-encryption key ("test-kek" repeated): never used outside tests.
os.environ.setdefault("INVIGIL_KEYS", "test1:dGVzdC1rZWt0ZXN0LWtla3Rlc3Qta2VrdGVzdC1rZWs=")

from proctor.settings import *  # noqa: E402, F403
from proctor.settings import DATA_DIR, DATABASES, STATIC_ROOT  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A file, not ":memory:", so a real Celery worker process can share the test database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# No nudges to analyse ahead from the many chunks tests store: they would pile up in the shared broker
# for the real workers some tests start. The tests of the nudge turn it on.
INVIGIL_ANALYSE_AHEAD_CHUNKS = 0
