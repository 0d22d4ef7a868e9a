"""Envelope encryption of data keys and segment-wise AES-256-GCM sealing of media ("sealed objects").

Pure library: no Django, no settings; every key is passed in by the caller.
"""

from __future__ import annotations

import hmac
import os
import struct
from collections.abc import Iterable, Iterator
from io import BytesIO
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEY_SIZE",
    "MAX_SEGMENT_SIZE",
    "SEGMENT_OVERHEAD",
    "SEGMENT_SIZE",
    "DecryptionError",
    "KeyRing",
    "UnknownKeyError",
    "iter_range",
    "kek_id_of",
    "new_data_key",
    "open_range",
    "open_sealed",
    "open_stream",
    "plaintext_size",
    "seal",
    "seal_stream",
    "sealed_size",
]

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
SEGMENT_OVERHEAD = NONCE_SIZE + TAG_SIZE
SEGMENT_SIZE = 64 * 1024
# The segment size comes from the object's header, so a reader must cap it before trusting it
# enough to size a read; 16 MiB is far above anything we write.
MAX_SEGMENT_SIZE = 16 * 1024 * 1024

MAGIC = b"IVG1"
HEADER_SIZE = len(MAGIC) + 4
WRAP_VERSION = 1
_WRAP_PREFIX = bytes([WRAP_VERSION])


class DecryptionError(Exception):
    """The bytes are not an authentic object for this key and label: tampered, truncated or misplaced."""


class UnknownKeyError(DecryptionError):
    """The wrapped data key names a key-encryption key that the ring does not hold."""

    def __init__(self, kek_id: str, known_ids: Iterable[str]) -> None:
        self.kek_id = kek_id
        known = ", ".join(repr(known_id) for known_id in known_ids)
        super().__init__(f"data key is wrapped with KEK {kek_id!r}, which is not in the key ring ({known})")


def new_data_key() -> bytes:
    """Return a fresh random AES-256 data key."""
    return os.urandom(KEY_SIZE)


def _check_key(key: bytes, what: str) -> None:
    # Say which key is wrong but never echo its bytes.
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise ValueError(f"{what} must be {KEY_SIZE} bytes")


# --- Envelope encryption ---------------------------------------------------------------------------------


class KeyRing:
    """Key-encryption keys by id; the first is primary and wraps new data keys, the rest only unwrap."""

    __slots__ = ("_aeads", "_primary_id")

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key-encryption key")
        aeads: dict[str, AESGCM] = {}
        for kek_id, kek in keys:
            if not isinstance(kek_id, str) or not kek_id:
                raise ValueError("a key-encryption key id must be a non-empty string")
            if len(kek_id.encode()) > 255:
                # The id is stored behind a one-byte length in every wrapped key.
                raise ValueError(f"key-encryption key id {kek_id!r} is longer than 255 bytes")
            _check_key(kek, f"key-encryption key {kek_id!r}")
            if kek_id in aeads:
                raise ValueError(f"key-encryption key id {kek_id!r} appears twice")
            aeads[kek_id] = AESGCM(kek)
        self._aeads = aeads
        self._primary_id = keys[0][0]

    def __repr__(self) -> str:
        # Ids only: a repr ends up in logs and tracebacks.
        return f"KeyRing(ids={list(self._aeads)!r})"

    @property
    def primary_id(self) -> str:
        return self._primary_id

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._aeads)

    def wrap(self, data_key: bytes, *, label: bytes) -> bytes:
        """Encrypt `data_key` under the primary KEK, bound to `label` (the object the key belongs to)."""
        _check_key(data_key, "data key")
        kek_id = self._primary_id.encode()
        prefix = _WRAP_PREFIX + bytes([len(kek_id)]) + kek_id
        nonce = os.urandom(NONCE_SIZE)
        # The prefix is authenticated too, so the version and KEK id cannot be edited to mislead a reader.
        sealed = self._aeads[self._primary_id].encrypt(nonce, data_key, prefix + label)
        return prefix + nonce + sealed

    def unwrap(self, wrapped: bytes, *, label: bytes) -> bytes:
        """Recover the data key; refuse it if it was wrapped for another label or has been altered."""
        kek_id, prefix, nonce, sealed = _parse_wrapped(wrapped)
        aead = self._aeads.get(kek_id)
        if aead is None:
            raise UnknownKeyError(kek_id, self._aeads)
        try:
            return aead.decrypt(nonce, sealed, prefix + label)
        except InvalidTag:
            raise DecryptionError(
                f"wrapped data key failed authentication under KEK {kek_id!r}: altered, or wrapped for another object"
            ) from None

    def rewrap(self, wrapped: bytes, *, label: bytes) -> bytes:
        """Re-wrap a data key under the primary KEK; the media it protects is untouched."""
        return self.wrap(self.unwrap(wrapped, label=label), label=label)

    @staticmethod
    def kek_id_of(wrapped: bytes) -> str:
        """Name the key-encryption key a wrapped data key was wrapped with, without unwrapping it."""
        return _parse_wrapped(wrapped)[0]


# Module-level too, for callers that hold no ring (e.g. reporting which KEKs are still in use).
kek_id_of = KeyRing.kek_id_of


def _parse_wrapped(wrapped: bytes) -> tuple[str, bytes, bytes, bytes]:
    if len(wrapped) < 2 or wrapped[0] != WRAP_VERSION:
        raise DecryptionError("not a wrapped data key of a known version")
    id_end = 2 + wrapped[1]
    if len(wrapped) != id_end + NONCE_SIZE + KEY_SIZE + TAG_SIZE:
        raise DecryptionError("wrapped data key has the wrong length")
    try:
        kek_id = wrapped[2:id_end].decode()
    except UnicodeDecodeError:
        raise DecryptionError("wrapped data key has a malformed KEK id") from None
    nonce_end = id_end + NONCE_SIZE
    return kek_id, wrapped[:id_end], wrapped[id_end:nonce_end], wrapped[nonce_end:]


# --- Sealed objects --------------------------------------------------------------------------------------
#
# Layout: b"IVG1" + segment size (u32 BE), then segments of nonce + ciphertext + tag. Each segment's
# associated data is header + len(label) + label + index + final flag, which ties it to this object, this
# position and (for the last one) the end, so segments cannot be swapped, reordered, dropped or appended.
# Only a lone segment may be empty; that keeps the sealed length a function of the plaintext length, which
# is what lets a range read know from the length alone which segment must carry the final flag.


def _header(segment_size: int) -> bytes:
    return MAGIC + struct.pack(">I", segment_size)


def _check_segment_size(segment_size: int) -> None:
    if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
        raise ValueError(f"segment size must be between 1 and {MAX_SEGMENT_SIZE} bytes")


def _parse_header(header: bytes) -> int:
    if len(header) < HEADER_SIZE or not hmac.compare_digest(header[: len(MAGIC)], MAGIC):
        raise DecryptionError("not a sealed object (bad or missing header)")
    (segment_size,) = struct.unpack(">I", header[len(MAGIC) : HEADER_SIZE])
    if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
        raise DecryptionError(f"sealed object header names an impossible segment size ({segment_size})")
    return int(segment_size)


def _ad_prefix(header: bytes, label: bytes) -> bytes:
    return header + struct.pack(">I", len(label)) + label


def _segment_ad(ad_prefix: bytes, index: int, final: bool) -> bytes:
    return ad_prefix + struct.pack(">QB", index, 1 if final else 0)


def sealed_size(plaintext_length: int, segment_size: int = SEGMENT_SIZE) -> int:
    """Length in bytes of the sealed object for a plaintext of `plaintext_length` bytes."""
    _check_segment_size(segment_size)
    if plaintext_length < 0:
        raise ValueError("plaintext length cannot be negative")
    segments = max(1, -(-plaintext_length // segment_size))
    return HEADER_SIZE + segments * SEGMENT_OVERHEAD + plaintext_length


def plaintext_size(ciphertext_length: int, segment_size: int = SEGMENT_SIZE) -> int:
    """Length of the plaintext inside a sealed object of `ciphertext_length` bytes."""
    _check_segment_size(segment_size)
    body = ciphertext_length - HEADER_SIZE
    if body < SEGMENT_OVERHEAD:
        raise DecryptionError(f"{ciphertext_length} bytes is too short to be a sealed object")
    full = segment_size + SEGMENT_OVERHEAD
    whole, rest = divmod(body, full)
    if rest == 0:
        return whole * segment_size
    # The last segment is partial: it must hold at least one byte, unless it is the only segment.
    if rest < SEGMENT_OVERHEAD or (rest == SEGMENT_OVERHEAD and whole > 0):
        raise DecryptionError(f"{ciphertext_length} bytes is not a possible sealed object length")
    return whole * segment_size + rest - SEGMENT_OVERHEAD


def seal(key: bytes, *, label: bytes, plaintext: bytes, segment_size: int = SEGMENT_SIZE) -> bytes:
    """Seal `plaintext` as one object bound to `label`."""
    return b"".join(seal_stream(key, label=label, chunks=(plaintext,), segment_size=segment_size))


def seal_stream(
    key: bytes, *, label: bytes, chunks: Iterable[bytes], segment_size: int = SEGMENT_SIZE
) -> Iterator[bytes]:
    """Yield the header, then each sealed segment, as plaintext arrives in chunks of any size."""
    _check_key(key, "data key")
    _check_segment_size(segment_size)
    aead = AESGCM(key)
    header = _header(segment_size)
    ad_prefix = _ad_prefix(header, label)
    index = 0

    def sealed_segment(plaintext: bytes | bytearray | memoryview, final: bool) -> bytes:
        # Random nonces are safe here: one data key seals one object, far below 2**32 segments.
        nonce = os.urandom(NONCE_SIZE)
        return nonce + aead.encrypt(nonce, plaintext, _segment_ad(ad_prefix, index, final))

    yield header
    # A full segment is held back until at least one more byte arrives, because only then do we know it
    # is not the final one.
    pending = bytearray()
    for chunk in chunks:
        if not chunk:
            continue
        view = memoryview(chunk)
        if pending:
            room = segment_size - len(pending)
            if len(view) <= room:
                pending += view
                continue
            pending += view[:room]
            view = view[room:]
            yield sealed_segment(pending, final=False)
            index += 1
            pending = bytearray()
        # Slicing the caller's chunk through a memoryview avoids copying large chunks segment by segment.
        while len(view) > segment_size:
            yield sealed_segment(view[:segment_size], final=False)
            index += 1
            view = view[segment_size:]
        pending += view
    yield sealed_segment(pending, final=True)


def _open_segment(aead: AESGCM, ad_prefix: bytes, index: int, segment: bytes, final: bool) -> bytes:
    if len(segment) < SEGMENT_OVERHEAD:
        raise DecryptionError(f"sealed object is truncated inside segment {index}")
    nonce, sealed = segment[:NONCE_SIZE], segment[NONCE_SIZE:]
    try:
        plaintext = aead.decrypt(nonce, sealed, _segment_ad(ad_prefix, index, final))
    except InvalidTag:
        pass
    else:
        if final and index > 0 and not plaintext:
            raise DecryptionError("sealed object ends with an empty segment after data (not canonical)")
        return plaintext
    # Failure path only: try the other final flag so the message says what actually happened.
    try:
        aead.decrypt(nonce, sealed, _segment_ad(ad_prefix, index, not final))
    except InvalidTag:
        raise DecryptionError(
            f"segment {index} failed authentication: tampered, moved, from another object, or wrong key"
        ) from None
    if final:
        raise DecryptionError(f"sealed object is truncated: segment {index} is not the final segment")
    raise DecryptionError(f"sealed object has data after its final segment (segment {index})")


def _read_exactly(fileobj: BinaryIO, size: int) -> bytes:
    # Raw files and sockets may return short reads before the end; only b"" means the end.
    data = fileobj.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = fileobj.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def open_sealed(key: bytes, *, label: bytes, ciphertext: bytes) -> bytes:
    """Open a whole sealed object held in memory."""
    return b"".join(open_stream(key, label=label, fileobj=BytesIO(ciphertext)))


def open_stream(key: bytes, *, label: bytes, fileobj: BinaryIO) -> Iterator[bytes]:
    """Yield the plaintext segment by segment, reading `fileobj` sequentially from its current position.

    Holds at most two segments in memory. Plaintext already yielded is authentic, but the object as a
    whole is authentic only once the iterator finishes without DecryptionError.
    """
    # Not a generator itself, so a bad key or header fails at the call, before a caller starts a response.
    _check_key(key, "data key")
    header = _read_exactly(fileobj, HEADER_SIZE)
    segment_size = _parse_header(header)
    return _open_segments(AESGCM(key), _ad_prefix(header, label), fileobj, segment_size)


def _open_segments(aead: AESGCM, ad_prefix: bytes, fileobj: BinaryIO, segment_size: int) -> Iterator[bytes]:
    full = segment_size + SEGMENT_OVERHEAD
    current = _read_exactly(fileobj, full)
    if not current:
        raise DecryptionError("sealed object is truncated: it has no segments")
    index = 0
    while True:
        # Read one segment ahead: a full segment is final only if nothing follows it.
        following = _read_exactly(fileobj, full) if len(current) == full else b""
        final = not following
        yield _open_segment(aead, ad_prefix, index, current, final)
        if final:
            return
        current = following
        index += 1


def iter_range(
    key: bytes, *, label: bytes, fileobj: BinaryIO, ciphertext_length: int, start: int, stop: int
) -> Iterator[bytes]:
    """Yield plaintext bytes [start, stop) of a sealed object at offset 0 of a seekable file.

    Reads only the header and the segments that cover the range. `stop` is clamped to the plaintext
    size, as in slicing; an empty range reads and authenticates no segment. A dropped tail is caught
    whenever the range reaches the last segment that `ciphertext_length` implies; a range that ends
    earlier cannot see the end, by design.
    """
    if start < 0:
        raise ValueError("range start cannot be negative")
    if start > stop:
        raise ValueError("range start is after its stop")
    _check_key(key, "data key")
    fileobj.seek(0)
    header = _read_exactly(fileobj, HEADER_SIZE)
    segment_size = _parse_header(header)
    total = plaintext_size(ciphertext_length, segment_size)
    return _open_range_segments(
        AESGCM(key),
        _ad_prefix(header, label),
        fileobj,
        segment_size=segment_size,
        ciphertext_length=ciphertext_length,
        plaintext_length=total,
        start=start,
        stop=min(stop, total),
    )


def _open_range_segments(
    aead: AESGCM,
    ad_prefix: bytes,
    fileobj: BinaryIO,
    *,
    segment_size: int,
    ciphertext_length: int,
    plaintext_length: int,
    start: int,
    stop: int,
) -> Iterator[bytes]:
    if start >= stop:
        return
    full = segment_size + SEGMENT_OVERHEAD
    last_index = max(0, -(-plaintext_length // segment_size) - 1)
    for index in range(start // segment_size, (stop - 1) // segment_size + 1):
        offset = HEADER_SIZE + index * full
        length = full if index < last_index else ciphertext_length - offset
        fileobj.seek(offset)
        segment = _read_exactly(fileobj, length)
        if len(segment) < length:
            raise DecryptionError(f"sealed object is shorter than its stated length ({ciphertext_length})")
        plaintext = _open_segment(aead, ad_prefix, index, segment, index == last_index)
        segment_start = index * segment_size
        yield plaintext[max(start - segment_start, 0) : stop - segment_start]


def open_range(key: bytes, *, label: bytes, fileobj: BinaryIO, ciphertext_length: int, start: int, stop: int) -> bytes:
    """Return plaintext bytes [start, stop) of a sealed object; see `iter_range`."""
    return b"".join(
        iter_range(key, label=label, fileobj=fileobj, ciphertext_length=ciphertext_length, start=start, stop=stop)
    )
