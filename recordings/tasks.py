"""Celery tasks of recordings: thin, idempotent, owning their retries."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task

from recordings.models import Recording
from recordings.remux import MediaError
from recordings.services import PLAYBACK_TASK, recording_make_playback_copy, recordings_finalise_abandoned

logger = logging.getLogger(__name__)


@shared_task(
    name=PLAYBACK_TASK,
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
    soft_time_limit=1500,
    time_limit=1800,
)
def recording_playback_copy(recording_id: str) -> dict[str, object]:
    """Make the seekable playback copy of a finalised recording (remux only, no re-encoding)."""
    try:
        recording = recording_make_playback_copy(recording_id=recording_id)
    except Recording.DoesNotExist:
        return {"recording": recording_id, "outcome": "gone"}
    except MediaError as exc:
        # A corrupt recording is a clear, final outcome for a person to see, not a retry loop.
        logger.warning("No playback copy for recording %s: %s", recording_id, exc)
        return {"recording": recording_id, "outcome": "failed", "reason": str(exc)}
    return {"recording": recording_id, "outcome": "ready", "duration": recording.duration_seconds}


#: How long after an attempt ends the browser may still upload what it holds.
UPLOAD_GRACE_MINUTES = 15


@shared_task(name="recordings.finalise_abandoned", acks_late=True, time_limit=600)
def finalise_abandoned_recordings() -> int:
    """Every few minutes: finalise recordings whose attempt ended more than the upload grace ago but
    whose page never said it had finished uploading. Missing chunks become technical gaps."""
    return recordings_finalise_abandoned(upload_grace=timedelta(minutes=UPLOAD_GRACE_MINUTES))
