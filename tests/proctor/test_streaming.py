"""Streaming responses stay streaming under ASGI: chunks are pulled one at a time in the request's
thread, never all at once, and the source is closed however the body ends."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncRequestFactory, RequestFactory

from proctor.streaming import streaming_response


class Source:
    """Chunks that count how many were pulled, note the thread that pulled them, and notice being
    closed; optionally fail after some."""

    def __init__(self, count: int, fail_after: int | None = None) -> None:
        self.pulled = 0
        self.closed = False
        self.count = count
        self.fail_after = fail_after
        self.threads: set[int] = set()

    def __iter__(self) -> Iterator[bytes]:
        try:
            for index in range(self.count):
                if index == self.fail_after:
                    raise OSError("storage went away")
                self.pulled += 1
                self.threads.add(threading.get_ident())
                yield f"chunk {index};".encode()
        finally:
            self.closed = True


async def test_under_asgi_chunks_are_pulled_one_at_a_time_on_the_requests_thread() -> None:
    source = Source(5)
    response = streaming_response(AsyncRequestFactory().get("/"), iter(source), content_type="text/plain")
    assert response.is_async
    stream = aiter(response)
    first = await anext(stream)
    assert first == b"chunk 0;"
    assert source.pulled == 1  # Django would have read all five into a list first
    rest = [chunk async for chunk in stream]
    assert b"".join([first, *rest]) == b"chunk 0;chunk 1;chunk 2;chunk 3;chunk 4;"
    # The thread-sensitive thread, where the view ran and its database connection lives.
    view_thread = await sync_to_async(threading.get_ident, thread_sensitive=True)()
    assert source.threads == {view_thread}


# Closing a response sends request_finished, whose handler tidies database connections.
@pytest.mark.django_db
async def test_a_response_abandoned_after_the_first_chunk_closes_its_source() -> None:
    source = Source(5)
    response = streaming_response(AsyncRequestFactory().get("/"), iter(source), content_type="text/plain")
    assert await anext(aiter(response)) == b"chunk 0;"
    await sync_to_async(response.close, thread_sensitive=True)()  # as Django's ASGI handler does
    assert source.closed
    assert source.pulled == 1


async def test_a_source_that_fails_part_way_ends_the_body_instead_of_raising() -> None:
    source = Source(5, fail_after=2)
    response = streaming_response(AsyncRequestFactory().get("/"), iter(source), content_type="text/plain")
    assert b"".join([chunk async for chunk in response]) == b"chunk 0;chunk 1;"
    assert source.closed


@pytest.mark.django_db
def test_under_wsgi_the_plain_iterator_streams_as_it_is_and_is_closed() -> None:
    source = Source(3)
    response = streaming_response(RequestFactory().get("/"), iter(source), content_type="text/plain")
    assert not response.is_async
    chunks = iter(response)
    assert next(chunks) == b"chunk 0;"
    assert source.pulled == 1
    response.close()
    assert source.closed


@pytest.mark.parametrize("count", [0, 1])
async def test_empty_and_single_chunk_bodies(count: int) -> None:
    response = streaming_response(AsyncRequestFactory().get("/"), iter(Source(count)), content_type="text/plain")
    assert b"".join([chunk async for chunk in response]) == (b"chunk 0;" if count else b"")
