"""The baseline of bench/ingest.py: a bare Channels consumer on the same stack (Daphne, asgiref's
thread pool) that takes the same frames, encrypts each chunk (AES-GCM), appends it to one file per
stream, fsyncs the file and acknowledges. No database, no channel layer, no authentication.

Served by Daphne like Invigil: ``daphne ingest_baseline:application`` with bench/ on PYTHONPATH and
BASELINE_DATA_DIR naming an empty folder.
"""

from __future__ import annotations

import json
import os
import struct
import uuid
from typing import Any

from django.conf import settings

if not settings.configured:
    settings.configure(CHANNEL_LAYERS={}, INSTALLED_APPS=[], USE_TZ=True)

from asgiref.sync import sync_to_async  # noqa: E402  (after the settings Channels reads)
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

HEADER = struct.Struct(">BBHIQ")  # recordings/protocol.py
STREAMS = ("webcam", "screen")
DATA_DIR = os.environ["BASELINE_DATA_DIR"]
KEY = AESGCM(b"baseline-key-baseline-key-32byte")


class BareChunkConsumer(AsyncWebsocketConsumer):
    files: dict[str, Any]

    async def connect(self) -> None:
        await self.accept()
        self.files = {}
        self.folder = os.path.join(DATA_DIR, uuid.uuid4().hex)

    async def disconnect(self, code: int) -> None:
        for handle in self.files.values():
            handle.close()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None:
            message = json.loads(text_data)
            if message.get("type") == "start" and message.get("stream") in STREAMS:
                await sync_to_async(self.open_stream, thread_sensitive=False)(message["stream"])
                await self.send(json.dumps({"type": "started", "stream": message["stream"], "part": 0}))
            return
        if bytes_data is None or len(bytes_data) <= HEADER.size:
            return
        _version, stream_index, part, seq, _client_ms = HEADER.unpack_from(bytes_data)
        stream = STREAMS[stream_index]
        await sync_to_async(self.append, thread_sensitive=False)(stream, seq, bytes_data[HEADER.size :])
        await self.send(json.dumps({"type": "ack", "stream": stream, "part": part, "seq": seq, "outcome": "stored"}))

    def open_stream(self, stream: str) -> None:
        os.makedirs(self.folder, exist_ok=True)
        self.files[stream] = open(os.path.join(self.folder, stream), "ab")  # noqa: SIM115 (closed on disconnect)
        folder = os.open(self.folder, os.O_RDONLY)  # the new file's entry, once
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def append(self, stream: str, seq: int, data: bytes) -> None:
        nonce = os.urandom(12)
        sealed = nonce + KEY.encrypt(nonce, data, f"{stream}:{seq}".encode())
        handle = self.files[stream]
        handle.write(struct.pack(">I", len(sealed)) + sealed)
        handle.flush()
        os.fsync(handle.fileno())


application = BareChunkConsumer.as_asgi()
