"""Streaming responses stay streaming under ASGI: chunks are pulled one at a time, never all at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import AsyncRequestFactory, RequestFactory

from proctor.streaming import streaming_response


class Source:
    """Chunks that count how many were pulled, and notice being closed."""

    def __init__(self, count: int) -> None:
        self.pulled = 0
        self.closed = False
        self.count = count

    def __iter__(self) -> Iterator[bytes]:
        try:
            for index in range(self.count):
                self.pulled += 1
                yield f"chunk {index};".encode()
        finally:
            self.closed = True


async def test_under_asgi_chunks_are_pulled_one_at_a_time_and_the_source_is_closed() -> None:
    source = Source(5)
    response = streaming_response(AsyncRequestFactory().get("/"), iter(source), content_type="text/plain")
    assert response.is_async
    stream = aiter(response)
    first = await anext(stream)
    assert first == b"chunk 0;"
    assert source.pulled == 1  # Django would have read all five into a list first
    rest = [chunk async for chunk in stream]
    assert b"".join([first, *rest]) == b"chunk 0;chunk 1;chunk 2;chunk 3;chunk 4;"
    assert source.closed


def test_under_wsgi_the_plain_iterator_streams_as_it_is() -> None:
    source = Source(3)
    response = streaming_response(RequestFactory().get("/"), iter(source), content_type="text/plain")
    assert not response.is_async
    chunks = iter(response)
    assert next(chunks) == b"chunk 0;"
    assert source.pulled == 1


@pytest.mark.parametrize("count", [0, 1])
async def test_empty_and_single_chunk_bodies(count: int) -> None:
    response = streaming_response(AsyncRequestFactory().get("/"), iter(Source(count)), content_type="text/plain")
    assert b"".join([chunk async for chunk in response]) == (b"chunk 0;" if count else b"")
