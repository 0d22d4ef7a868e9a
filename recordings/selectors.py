"""Reads of recordings, decrypting as a stream: plaintext exists only in memory, chunk by chunk."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, cast

from django.core.files.storage import default_storage

from proctor import crypto
from proctor.keys import data_key_material
from recordings.models import Recording
from recordings.services import chunk_label


def recording_plaintext(recording: Recording) -> Iterator[bytes]:
    """The stream's bytes, chunks decrypted in order, for decoding (PyAV) or playback."""
    key = data_key_material(recording.data_key)
    for chunk in recording.chunks.order_by("seq").only("seq", "storage_name"):
        with default_storage.open(chunk.storage_name, "rb") as sealed:
            fileobj = cast(BinaryIO, sealed)  # a Django File is a binary file object
            yield from crypto.open_stream(key, label=chunk_label(recording.id, chunk.seq), fileobj=fileobj)
