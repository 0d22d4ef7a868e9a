"""The streaming remux writes exactly the file a muxer writing to memory would, and refuses an input
that does not read the same twice."""

from __future__ import annotations

import functools
import io

import av
import pytest

from recordings.remux import HEAD_BYTES, IterReader, MediaError, remux_seekable
from tests.media import make_webm, split


@functools.cache
def recording() -> list[bytes]:
    """Eight seconds in MediaRecorder-sized chunks: a file well past the head the muxer rewrites."""
    return split(make_webm(seconds=8.0), [50_000])


def remuxed_in_memory(chunks: list[bytes]) -> bytes:
    """The same packets muxed to a seekable buffer in memory, in one pass: what the stream must equal."""
    output = io.BytesIO()
    with (
        av.open(IterReader(chunks), mode="r", format="webm") as source,
        av.open(output, mode="w", format="webm", options={"fflags": "+bitexact"}) as target,
    ):
        mapping = {s.index: target.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = mapping[packet.stream.index]
                target.mux(packet)
    return output.getvalue()


def test_the_streamed_copy_is_the_file_a_seekable_muxer_writes_with_its_head_finished() -> None:
    remuxed = remux_seekable(recording)

    streamed = b"".join(remuxed.data)

    expected = remuxed_in_memory(recording())
    assert len(expected) > 2 * HEAD_BYTES
    assert streamed == expected
    assert remuxed.size == len(streamed)
    with av.open(io.BytesIO(streamed)) as container:
        assert container.duration is not None
        assert container.duration / 1e6 == pytest.approx(8.0, rel=0.05)
    assert remuxed.duration_seconds == pytest.approx(8.0, rel=0.05)


def test_an_input_that_reads_differently_the_second_time_is_refused() -> None:
    reads = iter([recording(), recording()[:-3]])

    remuxed = remux_seekable(lambda: next(reads))

    with pytest.raises(MediaError, match="not repeatable"):
        b"".join(remuxed.data)


def test_an_empty_or_corrupt_recording_is_refused_before_anything_is_streamed() -> None:
    with pytest.raises(MediaError):
        remux_seekable(lambda: [b"\x1a\x45\xdf\xa3" + b"\x00garbage" * 100])
