"""Data keys wrapped under rotating KEKs, and sealed media that refuses any tampering, reordering or cut."""

from __future__ import annotations

import io
import itertools
import os
import struct
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from proctor.crypto import (
    SEGMENT_OVERHEAD,
    SEGMENT_SIZE,
    DecryptionError,
    KeyRing,
    UnknownKeyError,
    iter_range,
    kek_id_of,
    new_data_key,
    open_range,
    open_sealed,
    open_stream,
    plaintext_size,
    seal,
    seal_stream,
    sealed_size,
)

HEADER = 8
SEG = 16  # small segments so a few dozen bytes cross several boundaries
FULL = SEG + SEGMENT_OVERHEAD
LABEL = b"recording:3f2a0c9e"
OTHER_LABEL = b"recording:77b1d004"

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))

# Hypothesis' per-example deadline is a wall-clock check, and timings belong in bench/.
props = settings(deadline=None, max_examples=150)


def sealed(plaintext: bytes, *, label: bytes = LABEL, key: bytes = KEY, segment_size: int = SEG) -> bytes:
    return seal(key, label=label, plaintext=plaintext, segment_size=segment_size)


def segments_of(ciphertext: bytes, segment_size: int = SEG) -> list[bytes]:
    full = segment_size + SEGMENT_OVERHEAD
    body = ciphertext[HEADER:]
    return [body[i : i + full] for i in range(0, len(body), full)]


def read_stream(ciphertext: bytes, *, label: bytes = LABEL, key: bytes = KEY) -> bytes:
    return b"".join(open_stream(key, label=label, fileobj=io.BytesIO(ciphertext)))


def read_range(ciphertext: bytes, start: int, stop: int, *, label: bytes = LABEL, key: bytes = KEY) -> bytes:
    return open_range(
        key,
        label=label,
        fileobj=io.BytesIO(ciphertext),
        ciphertext_length=len(ciphertext),
        start=start,
        stop=stop,
    )


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


class CountingReader(io.BytesIO):
    """A file that remembers how many bytes were read and the largest single read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0
        self.largest_read = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        self.largest_read = max(self.largest_read, len(data))
        return data


class TrickleReader(io.BytesIO):
    """A file that returns short reads, as raw files and sockets may."""

    def read(self, size: int | None = -1, /) -> bytes:
        return super().read(min(5, size) if size is not None and size >= 0 else 5)


# --- Sealing and opening ---------------------------------------------------------------------------------


@props
@given(plaintext=st.binary(max_size=300), segment_size=st.integers(min_value=16, max_value=64))
def test_it_opens_what_it_sealed(plaintext: bytes, segment_size: int) -> None:
    ciphertext = sealed(plaintext, segment_size=segment_size)

    assert open_sealed(KEY, label=LABEL, ciphertext=ciphertext) == plaintext
    assert len(ciphertext) == sealed_size(len(plaintext), segment_size)
    assert plaintext_size(len(ciphertext), segment_size) == len(plaintext)


@props
@given(
    plaintext=st.binary(max_size=300),
    segment_size=st.integers(min_value=16, max_value=64),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=12),
)
def test_it_streams_chunks_of_any_size_into_the_same_object_format(
    plaintext: bytes, segment_size: int, cuts: list[int]
) -> None:
    bounds = sorted({0, len(plaintext), *(min(cut, len(plaintext)) for cut in cuts)})
    chunks = [plaintext[a:b] for a, b in itertools.pairwise(bounds)]

    ciphertext = b"".join(seal_stream(KEY, label=LABEL, chunks=chunks, segment_size=segment_size))

    assert len(ciphertext) == sealed_size(len(plaintext), segment_size)
    assert open_sealed(KEY, label=LABEL, ciphertext=ciphertext) == plaintext


@pytest.mark.parametrize("chunk_size", [1, 7, SEG, SEG + 1, 5 * SEG + 3])
@pytest.mark.parametrize("length", [0, 1, SEG - 1, SEG, SEG + 1, 4 * SEG, 4 * SEG + 9])
def test_it_round_trips_a_stream_in_chunks_of_one_odd_and_larger_than_a_segment(chunk_size: int, length: int) -> None:
    plaintext = os.urandom(length)

    pieces = list(seal_stream(KEY, label=LABEL, chunks=chunked(plaintext, chunk_size), segment_size=SEG))

    # One yield for the header, then one per segment: the sealer never holds more than a segment back.
    assert pieces[0] == b"IVG1" + struct.pack(">I", SEG)
    assert all(len(piece) == FULL for piece in pieces[1:-1])
    ciphertext = b"".join(pieces)
    assert len(ciphertext) == sealed_size(length, SEG)
    opened = list(open_stream(KEY, label=LABEL, fileobj=io.BytesIO(ciphertext)))
    assert b"".join(opened) == plaintext
    assert len(opened) == len(pieces) - 1


def test_it_uses_64_kib_segments_by_default() -> None:
    plaintext = os.urandom(SEGMENT_SIZE * 2 + 5)

    ciphertext = seal(KEY, label=LABEL, plaintext=plaintext)

    assert SEGMENT_SIZE == 64 * 1024
    assert ciphertext[:8] == b"IVG1" + struct.pack(">I", SEGMENT_SIZE)
    assert len(ciphertext) == 8 + 3 * SEGMENT_OVERHEAD + len(plaintext)
    assert open_sealed(KEY, label=LABEL, ciphertext=ciphertext) == plaintext


def test_it_seals_an_empty_plaintext_as_one_empty_final_segment() -> None:
    ciphertext = sealed(b"")

    assert len(ciphertext) == HEADER + SEGMENT_OVERHEAD
    assert open_sealed(KEY, label=LABEL, ciphertext=ciphertext) == b""
    assert list(open_stream(KEY, label=LABEL, fileobj=io.BytesIO(ciphertext))) == [b""]
    streamed = b"".join(seal_stream(KEY, label=LABEL, chunks=[b"", b""], segment_size=SEG))
    assert len(streamed) == len(ciphertext)
    assert read_stream(streamed) == b""
    assert read_range(ciphertext, 0, 10) == b""


def test_it_follows_the_documented_layout_so_another_implementation_could_read_it() -> None:
    plaintext = b"A" * SEG + b"tail"
    ciphertext = sealed(plaintext)
    header = b"IVG1" + struct.pack(">I", SEG)
    aead = AESGCM(KEY)

    assert ciphertext[:HEADER] == header
    opened = []
    for index, segment in enumerate(segments_of(ciphertext)):
        final = 1 if index == 1 else 0
        ad = header + struct.pack(">I", len(LABEL)) + LABEL + struct.pack(">QB", index, final)
        opened.append(aead.decrypt(segment[:12], segment[12:], ad))
    assert opened == [b"A" * SEG, b"tail"]


def test_it_uses_a_fresh_nonce_for_every_segment_and_every_seal() -> None:
    plaintext = b"same bytes again" * 4

    first, second = sealed(plaintext), sealed(plaintext)

    nonces = [segment[:12] for segment in segments_of(first) + segments_of(second)]
    assert len(set(nonces)) == len(nonces)
    assert first != second


def test_it_reads_a_file_that_returns_short_reads() -> None:
    plaintext = os.urandom(5 * SEG + 3)

    opened = b"".join(open_stream(KEY, label=LABEL, fileobj=TrickleReader(sealed(plaintext))))

    assert opened == plaintext


def test_it_reads_a_stream_sequentially_one_segment_at_a_time() -> None:
    plaintext = os.urandom(40 * SEG)
    reader = CountingReader(sealed(plaintext))

    stream = open_stream(KEY, label=LABEL, fileobj=reader)
    assert next(stream) == plaintext[:SEG]
    # Header, the first segment, and the one-segment look-ahead that tells it the first is not final.
    assert reader.bytes_read == HEADER + 2 * FULL

    assert b"".join(stream) == plaintext[SEG:]
    assert reader.largest_read <= FULL


# --- Refusals --------------------------------------------------------------------------------------------


@props
@given(data=st.data(), plaintext=st.binary(max_size=100))
def test_it_refuses_a_single_flipped_bit_anywhere_in_the_object(data: st.DataObject, plaintext: bytes) -> None:
    ciphertext = bytearray(sealed(plaintext))
    bit = data.draw(st.integers(min_value=0, max_value=len(ciphertext) * 8 - 1))
    ciphertext[bit // 8] ^= 1 << (bit % 8)

    with pytest.raises(DecryptionError):
        open_sealed(KEY, label=LABEL, ciphertext=bytes(ciphertext))
    # An empty range releases no plaintext, so it authenticates nothing; any other range must refuse.
    if plaintext:
        with pytest.raises(DecryptionError):
            read_range(bytes(ciphertext), 0, len(plaintext))


@pytest.mark.parametrize("position", range(HEADER))
def test_it_refuses_an_object_whose_header_was_altered(position: int) -> None:
    ciphertext = bytearray(sealed(b"x" * 40))
    ciphertext[position] ^= 0x01

    with pytest.raises(DecryptionError):
        read_stream(bytes(ciphertext))


def test_it_refuses_a_segment_moved_to_another_position() -> None:
    ciphertext = sealed(os.urandom(4 * SEG))
    header, (s0, s1, s2, s3) = ciphertext[:HEADER], segments_of(ciphertext)

    swapped = header + s1 + s0 + s2 + s3

    with pytest.raises(DecryptionError, match="segment 0 failed authentication"):
        read_stream(swapped)
    with pytest.raises(DecryptionError):
        read_range(swapped, SEG, SEG + 1)


def test_it_refuses_a_segment_copied_from_another_object() -> None:
    ours = sealed(os.urandom(3 * SEG))
    theirs = sealed(os.urandom(3 * SEG), label=OTHER_LABEL)
    ours_segments, their_segments = segments_of(ours), segments_of(theirs)

    spliced = ours[:HEADER] + ours_segments[0] + their_segments[1] + ours_segments[2]

    with pytest.raises(DecryptionError, match="segment 1"):
        read_stream(spliced)
    with pytest.raises(DecryptionError):
        read_range(spliced, SEG, 2 * SEG)


def test_it_refuses_to_open_an_object_under_another_label() -> None:
    ciphertext = sealed(b"webcam chunk")

    with pytest.raises(DecryptionError):
        open_sealed(KEY, label=OTHER_LABEL, ciphertext=ciphertext)


def test_it_refuses_the_wrong_data_key() -> None:
    ciphertext = sealed(os.urandom(3 * SEG))

    with pytest.raises(DecryptionError):
        open_sealed(OTHER_KEY, label=LABEL, ciphertext=ciphertext)
    with pytest.raises(DecryptionError):
        read_stream(ciphertext, key=OTHER_KEY)
    with pytest.raises(DecryptionError):
        read_range(ciphertext, 0, 1, key=OTHER_KEY)


@pytest.mark.parametrize("length", [2 * SEG, 2 * SEG + 5])
def test_it_refuses_a_stream_whose_final_segment_was_dropped(length: int) -> None:
    ciphertext = sealed(os.urandom(length))
    truncated = ciphertext[: -len(segments_of(ciphertext)[-1])]

    with pytest.raises(DecryptionError, match="truncated"):
        read_stream(truncated)


@pytest.mark.parametrize("length", [2 * SEG, 2 * SEG + 5])
def test_it_refuses_a_range_read_of_a_file_whose_final_segment_was_dropped(length: int) -> None:
    ciphertext = sealed(os.urandom(length))
    truncated = ciphertext[: -len(segments_of(ciphertext)[-1])]

    last_byte = plaintext_size(len(truncated), SEG) - 1

    # The stored length now says the old second-to-last segment is the final one, and it is not marked so.
    with pytest.raises(DecryptionError, match="truncated"):
        read_range(truncated, last_byte, last_byte + 1)
    with pytest.raises(DecryptionError):
        read_range(truncated, 0, len(truncated))


def test_it_refuses_a_range_read_of_a_file_shorter_than_its_stated_length() -> None:
    ciphertext = sealed(os.urandom(3 * SEG))

    with pytest.raises(DecryptionError, match="shorter than its stated length"):
        open_range(
            KEY,
            label=LABEL,
            fileobj=io.BytesIO(ciphertext[:-FULL]),
            ciphertext_length=len(ciphertext),
            start=2 * SEG,
            stop=3 * SEG,
        )


def test_it_refuses_a_segment_appended_after_the_final_one() -> None:
    ciphertext = sealed(os.urandom(3 * SEG))
    final = segments_of(ciphertext)[-1]
    from_another_object = segments_of(sealed(os.urandom(4 * SEG)))[3]

    with pytest.raises(DecryptionError, match="after its final segment"):
        read_stream(ciphertext + final)
    with pytest.raises(DecryptionError):
        read_stream(ciphertext + from_another_object)


@pytest.mark.parametrize("extra", [b"\x00", os.urandom(SEGMENT_OVERHEAD), os.urandom(FULL)])
def test_it_refuses_bytes_appended_after_a_short_final_segment(extra: bytes) -> None:
    ciphertext = sealed(os.urandom(2 * SEG + 3))

    with pytest.raises(DecryptionError):
        read_stream(ciphertext + extra)
    with pytest.raises(DecryptionError):
        read_range(ciphertext + extra, 0, 3 * SEG)


@props
@given(plaintext=st.binary(min_size=1, max_size=120), data=st.data())
def test_it_refuses_ciphertext_cut_anywhere_short_of_its_end(plaintext: bytes, data: st.DataObject) -> None:
    ciphertext = sealed(plaintext)
    cut = data.draw(st.integers(min_value=0, max_value=len(ciphertext) - 1))

    with pytest.raises(DecryptionError):
        read_stream(ciphertext[:cut])


@pytest.mark.parametrize("cut", [1, 5, SEGMENT_OVERHEAD - 1, SEGMENT_OVERHEAD, FULL - 1])
def test_it_refuses_ciphertext_cut_mid_segment(cut: int) -> None:
    ciphertext = sealed(os.urandom(3 * SEG))
    cut_short = ciphertext[: HEADER + FULL + cut]

    with pytest.raises(DecryptionError):
        read_stream(cut_short)
    with pytest.raises(DecryptionError):
        read_range(cut_short, SEG, 2 * SEG)


def test_it_refuses_an_empty_segment_after_data_so_lengths_stay_unambiguous() -> None:
    header = b"IVG1" + struct.pack(">I", SEG)
    aead = AESGCM(KEY)
    prefix = header + struct.pack(">I", len(LABEL)) + LABEL
    nonce0, nonce1 = os.urandom(12), os.urandom(12)
    first = nonce0 + aead.encrypt(nonce0, b"B" * SEG, prefix + struct.pack(">QB", 0, 0))
    empty_final = nonce1 + aead.encrypt(nonce1, b"", prefix + struct.pack(">QB", 1, 1))

    with pytest.raises(DecryptionError, match="empty segment"):
        read_stream(header + first + empty_final)
    with pytest.raises(DecryptionError):
        plaintext_size(len(header + first + empty_final), SEG)


def test_it_refuses_bytes_that_are_not_a_sealed_object() -> None:
    with pytest.raises(DecryptionError, match="not a sealed object"):
        open_stream(KEY, label=LABEL, fileobj=io.BytesIO(b"RIFF\x00\x00\x00\x10 a wav file"))
    with pytest.raises(DecryptionError, match="not a sealed object"):
        open_stream(KEY, label=LABEL, fileobj=io.BytesIO(b""))
    with pytest.raises(DecryptionError, match="no segments"):
        read_stream(b"IVG1" + struct.pack(">I", SEG))


@pytest.mark.parametrize("length", [0, HEADER, HEADER + SEGMENT_OVERHEAD - 1, HEADER + FULL + 5])
def test_it_refuses_impossible_ciphertext_lengths(length: int) -> None:
    with pytest.raises(DecryptionError):
        plaintext_size(length, SEG)


@props
@given(length=st.integers(min_value=0, max_value=10_000), segment_size=st.integers(min_value=1, max_value=64))
def test_it_computes_sizes_that_invert_each_other(length: int, segment_size: int) -> None:
    assert plaintext_size(sealed_size(length, segment_size), segment_size) == length


def test_it_rejects_keys_and_segment_sizes_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        seal(KEY[:16], label=LABEL, plaintext=b"x")
    with pytest.raises(ValueError, match="segment size"):
        seal(KEY, label=LABEL, plaintext=b"x", segment_size=0)
    with pytest.raises(ValueError, match="32 bytes"):
        open_stream(KEY + b"!", label=LABEL, fileobj=io.BytesIO(sealed(b"x")))


# --- Range reads -----------------------------------------------------------------------------------------


@props
@given(
    plaintext=st.binary(max_size=300),
    segment_size=st.integers(min_value=16, max_value=64),
    data=st.data(),
)
def test_it_reads_any_range_as_the_matching_slice_of_the_plaintext(
    plaintext: bytes, segment_size: int, data: st.DataObject
) -> None:
    ciphertext = sealed(plaintext, segment_size=segment_size)
    start = data.draw(st.integers(min_value=0, max_value=len(plaintext) + 10))
    stop = data.draw(st.integers(min_value=start, max_value=len(plaintext) + 40))

    assert read_range(ciphertext, start, stop) == plaintext[start:stop]


@pytest.mark.parametrize(
    ("start", "stop"),
    [(0, SEG), (SEG - 1, SEG + 1), (SEG, 2 * SEG), (3, 4 * SEG + 2), (4 * SEG, 4 * SEG + 7), (0, 10**9)],
)
def test_it_reads_ranges_across_segment_boundaries(start: int, stop: int) -> None:
    plaintext = os.urandom(4 * SEG + 7)
    ciphertext = sealed(plaintext)

    assert read_range(ciphertext, start, stop) == plaintext[start:stop]
    pieces = iter_range(
        KEY,
        label=LABEL,
        fileobj=io.BytesIO(ciphertext),
        ciphertext_length=len(ciphertext),
        start=start,
        stop=stop,
    )
    assert b"".join(pieces) == plaintext[start:stop]


def test_it_reads_only_the_segments_that_cover_a_range() -> None:
    plaintext = os.urandom(100 * SEG)
    reader = CountingReader(sealed(plaintext))

    got = open_range(
        KEY,
        label=LABEL,
        fileobj=reader,
        ciphertext_length=len(reader.getvalue()),
        start=50 * SEG + 3,
        stop=52 * SEG - 1,
    )

    assert got == plaintext[50 * SEG + 3 : 52 * SEG - 1]
    assert reader.bytes_read == HEADER + 2 * FULL


def test_it_reads_only_the_final_segment_for_a_range_at_the_end() -> None:
    plaintext = os.urandom(100 * SEG + 5)
    reader = CountingReader(sealed(plaintext))

    got = open_range(
        KEY,
        label=LABEL,
        fileobj=reader,
        ciphertext_length=len(reader.getvalue()),
        start=100 * SEG,
        stop=10**9,
    )

    assert got == plaintext[100 * SEG :]
    assert reader.bytes_read == HEADER + 5 + SEGMENT_OVERHEAD


def test_it_returns_nothing_for_an_empty_range_or_one_past_the_end() -> None:
    plaintext = os.urandom(3 * SEG)
    ciphertext = sealed(plaintext)

    assert read_range(ciphertext, 5, 5) == b""
    assert read_range(ciphertext, 3 * SEG, 3 * SEG + 10) == b""
    assert read_range(ciphertext, 10 * SEG, 11 * SEG) == b""


def test_it_rejects_a_negative_or_backwards_range_at_the_call() -> None:
    ciphertext = sealed(b"x" * 40)

    with pytest.raises(ValueError, match="negative"):
        iter_range(
            KEY,
            label=LABEL,
            fileobj=io.BytesIO(ciphertext),
            ciphertext_length=len(ciphertext),
            start=-1,
            stop=3,
        )
    with pytest.raises(ValueError, match="after its stop"):
        read_range(ciphertext, 5, 4)


# --- Key ring --------------------------------------------------------------------------------------------


def test_it_makes_fresh_32_byte_data_keys() -> None:
    keys = {new_data_key() for _ in range(8)}

    assert len(keys) == 8
    assert all(len(key) == 32 for key in keys)


def test_it_unwraps_a_data_key_it_wrapped() -> None:
    ring = KeyRing([("2025-a", os.urandom(32))])
    data_key = new_data_key()

    wrapped = ring.wrap(data_key, label=b"datakey:3f2a")

    assert ring.primary_id == "2025-a"
    assert ring.unwrap(wrapped, label=b"datakey:3f2a") == data_key
    assert kek_id_of(wrapped) == "2025-a" == KeyRing.kek_id_of(wrapped)
    assert data_key not in wrapped
    assert wrapped != ring.wrap(data_key, label=b"datakey:3f2a")


def test_it_refuses_a_wrapped_key_moved_onto_another_record() -> None:
    ring = KeyRing([("k1", os.urandom(32))])
    wrapped = ring.wrap(new_data_key(), label=b"datakey:3f2a")

    with pytest.raises(DecryptionError, match="another object"):
        ring.unwrap(wrapped, label=b"datakey:77b1")


def test_it_refuses_a_wrapped_key_whose_kek_id_was_edited() -> None:
    ring = KeyRing([("k1", os.urandom(32)), ("k2", os.urandom(32))])
    wrapped = ring.wrap(new_data_key(), label=LABEL)

    relabelled = wrapped.replace(b"k1", b"k2", 1)

    assert kek_id_of(relabelled) == "k2"
    with pytest.raises(DecryptionError):
        ring.unwrap(relabelled, label=LABEL)


@props
@given(data=st.data())
def test_it_refuses_a_wrapped_key_with_any_flipped_bit(data: st.DataObject) -> None:
    ring = KeyRing([("k1", KEY)])
    wrapped = bytearray(ring.wrap(OTHER_KEY, label=LABEL))
    bit = data.draw(st.integers(min_value=0, max_value=len(wrapped) * 8 - 1))
    wrapped[bit // 8] ^= 1 << (bit % 8)

    with pytest.raises(DecryptionError):
        ring.unwrap(bytes(wrapped), label=LABEL)


def test_it_names_the_missing_kek_when_the_ring_lacks_it() -> None:
    wrapped = KeyRing([("retired-2023", os.urandom(32))]).wrap(new_data_key(), label=LABEL)
    ring = KeyRing([("current", os.urandom(32))])

    with pytest.raises(UnknownKeyError, match="retired-2023") as caught:
        ring.unwrap(wrapped, label=LABEL)

    assert caught.value.kek_id == "retired-2023"
    assert isinstance(caught.value, DecryptionError)


@pytest.mark.parametrize("wrapped", [b"", b"\x01", b"\x02\x02k1" + bytes(60), b"\x01\x02k1" + bytes(59)])
def test_it_refuses_bytes_that_are_not_a_wrapped_key(wrapped: bytes) -> None:
    ring = KeyRing([("k1", os.urandom(32))])

    with pytest.raises(DecryptionError):
        ring.unwrap(wrapped, label=LABEL)
    with pytest.raises(DecryptionError):
        kek_id_of(wrapped)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([], "at least one"),
        ([("k1", bytes(31))], "32 bytes"),
        ([("k1", bytes(32)), ("k1", bytes(range(32)))], "twice"),
        ([("", bytes(32))], "non-empty"),
    ],
)
def test_it_rejects_a_malformed_key_ring(keys: list[tuple[str, bytes]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KeyRing(keys)


def test_it_keeps_key_bytes_out_of_its_repr_and_errors() -> None:
    kek = b"S" * 32
    ring = KeyRing([("k1", kek)])

    with pytest.raises(ValueError, match="k2") as caught:
        KeyRing([("k1", kek), ("k2", kek[:31])])

    assert "SSSS" not in repr(ring)
    assert "SSSS" not in str(caught.value)


def test_it_rotates_keks_without_touching_the_media() -> None:
    old_kek, new_kek = os.urandom(32), os.urandom(32)
    data_key = new_data_key()
    key_label = b"datakey:recording-3f2a"
    plaintext = os.urandom(5 * SEG + 1)
    media = seal(data_key, label=LABEL, plaintext=plaintext, segment_size=SEG)
    wrapped_by_old = KeyRing([("old", old_kek)]).wrap(data_key, label=key_label)

    rewrapped = KeyRing([("new", new_kek), ("old", old_kek)]).rewrap(wrapped_by_old, label=key_label)

    assert kek_id_of(rewrapped) == "new"
    unwrapped = KeyRing([("new", new_kek)]).unwrap(rewrapped, label=key_label)
    assert open_sealed(unwrapped, label=LABEL, ciphertext=media) == plaintext
    with pytest.raises(UnknownKeyError, match="new"):
        KeyRing([("old", old_kek)]).unwrap(rewrapped, label=key_label)


def test_it_rewraps_a_key_already_under_the_primary_afresh() -> None:
    ring = KeyRing([("k1", os.urandom(32)), ("k0", os.urandom(32))])
    data_key = new_data_key()
    wrapped = ring.wrap(data_key, label=LABEL)

    rewrapped = ring.rewrap(wrapped, label=LABEL)

    assert rewrapped != wrapped
    assert kek_id_of(rewrapped) == "k1"
    assert ring.unwrap(rewrapped, label=LABEL) == data_key
