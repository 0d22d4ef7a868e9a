"""Reads of recordings, decrypting as a stream: plaintext exists only in memory, chunk by chunk."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, BinaryIO, cast

from django.core.files.storage import default_storage
from django.http import HttpRequest

from proctor import crypto
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction
from proctor.keys import data_key_material
from recordings.models import Recording
from recordings.services import chunk_label, playback_label, thumbnail_label

#: A WebM file's clusters begin with this element id; everything before the first is its header.
WEBM_CLUSTER_ID = b"\x1f\x43\xb6\x75"


def recording_plaintext(recording: Recording, *, from_seconds: float = 0.0) -> Iterator[bytes]:
    """The stream's bytes, chunks decrypted in order, for decoding (PyAV) or playback.

    With ``from_seconds`` (media time, counted from the part's first chunk), only what is needed from
    there on: the WebM header, then the chunks from the last one that began at or before that time. A
    demuxer picks the stream up at the next cluster, so a part can be read a stretch at a time
    without reading it all again each time."""
    key = data_key_material(recording.data_key)
    first = 0
    if from_seconds > 0:
        times, _ = _chunk_times(recording)
        if times:
            origin = times[min(times)]
            first = max((seq for seq, at in times.items() if (at - origin).total_seconds() <= from_seconds), default=0)
    rows = recording.chunks.order_by("seq").only("seq", "storage_name")
    if first > 0:
        header = _webm_header(key, recording, rows.first())
        if header is None:
            first = 0
        else:
            yield header
            rows = rows.filter(seq__gte=first)
    for chunk in rows:
        with default_storage.open(chunk.storage_name, "rb") as sealed:
            fileobj = cast(BinaryIO, sealed)  # a Django File is a binary file object
            yield from crypto.open_stream(key, label=chunk_label(recording.id, chunk.seq), fileobj=fileobj)


def _webm_header(key: bytes, recording: Recording, chunk: Any) -> bytes | None:
    """The bytes of the part's first chunk before its first cluster, or None when it holds no cluster."""
    if chunk is None or chunk.seq != 0:
        return None
    with default_storage.open(chunk.storage_name, "rb") as sealed:
        fileobj = cast(BinaryIO, sealed)
        data = b"".join(crypto.open_stream(key, label=chunk_label(recording.id, chunk.seq), fileobj=fileobj))
    end = data.find(WEBM_CLUSTER_ID)
    return data[:end] if end > 0 else None


def recording_open_thumbnail(*, recording: Recording, moment: float, sealed: bytes) -> bytes:
    return crypto.open_sealed(
        data_key_material(recording.data_key), label=thumbnail_label(recording.id, moment), ciphertext=sealed
    )


def _chunk_times(recording: Recording) -> tuple[dict[int, datetime], timedelta]:
    """When each received chunk began, by sequence number, and the typical length of a chunk (the
    median spacing of those times per sequence step; zero with fewer than two).

    The browser's time is used where it sent one. A chunk sent without it (the protocol's 0, "unknown")
    or with a time too far from the server's to be believed (stored as unknown) began, by the server's
    clock, about one chunk length before it arrived."""
    rows = list(recording.chunks.values_list("seq", "client_time", "received_at"))
    times: dict[int, datetime] = {seq: at for seq, at, _ in rows if at is not None}
    step = _median_step(times) if len(times) >= 2 else _median_step({seq: at for seq, _, at in rows})
    for seq, client_time, received_at in rows:
        if client_time is None:
            times[seq] = received_at - step
    return times, step


def _median_step(times: dict[int, datetime]) -> timedelta:
    ordered = sorted(times)
    spacing = [(times[b] - times[a]).total_seconds() / (b - a) for a, b in zip(ordered, ordered[1:], strict=False)]
    return timedelta(seconds=statistics.median(spacing)) if spacing else timedelta(0)


def recording_span(recording: Recording) -> tuple[datetime, datetime] | None:
    """From when to when this part recorded (browser time): from its first chunk's start to its last
    chunk's start plus a typical chunk length. None for a part with no chunks."""
    times, step = _chunk_times(recording)
    if not times:
        return None
    return times[min(times)], times[max(times)] + step


def recording_gap_times(recording: Recording) -> list[tuple[datetime, datetime | None]]:
    """Each technical gap as (from, to) in browser time: from the start of the chunk after the last one
    received to the start of the next one received (None: the gap runs to the end of the recording)."""
    times, step = _chunk_times(recording)
    found: list[tuple[datetime, datetime | None]] = []
    for gap in recording.gaps.all():
        before = times.get(gap.first_missing_seq - 1)
        after = times.get(gap.last_missing_seq + 1)
        start = before + step if before is not None else recording.created_at
        found.append((start, after))
    return found


def recording_playback_bytes(
    recording: Recording,
    *,
    start: int,
    stop: int,
    actor: Any,
    request: HttpRequest | None = None,
    purpose: str = "",
) -> Iterator[bytes]:
    """Plaintext bytes [start, stop) of the seekable playback copy, decrypted segment by segment as
    they are sent. Every request is written to the audit log: who played which recording, which
    part of it, and from where."""
    audit_record(
        actor=actor,
        action=AuditAction.RECORDING_PLAY,
        target=recording,
        request=request,
        purpose=purpose,
        detail={"session": str(recording.session_id), "kind": recording.kind, "range": [start, stop]},
    )
    key = data_key_material(recording.data_key)
    name = recording.playback_name

    def chunks() -> Iterator[bytes]:
        with default_storage.open(name, "rb") as sealed:
            yield from crypto.iter_range(
                key,
                label=playback_label(recording.id),
                fileobj=cast(BinaryIO, sealed),
                ciphertext_length=default_storage.size(name),
                start=start,
                stop=stop,
            )

    return chunks()
