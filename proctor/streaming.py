"""Streaming responses that stay streaming under Daphne.

Django serves a StreamingHttpResponse built on a plain iterator under ASGI by reading the whole
iterator into a list first, so a decrypted recording or a large export would sit whole in memory.
Under ASGI the body is therefore handed over as an asynchronous iterator that pulls one chunk at a
time in the request's thread (database connections and all); under WSGI the plain iterator streams
as it is.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

logger = logging.getLogger(__name__)

_END = object()


def _next(iterator: Iterator[bytes]) -> Any:
    return next(iterator, _END)


async def _pulled(iterator: Iterator[bytes]) -> AsyncIterator[bytes]:
    pull = sync_to_async(_next, thread_sensitive=True)
    try:
        while (chunk := await pull(iterator)) is not _END:
            yield chunk
    except Exception:
        # The headers are gone already: end the body early (the client sees a short response) and
        # let Django finish the request normally rather than lose its clean-up.
        logger.exception("A streamed response failed part way; its body was cut short.")


class _Streamed(StreamingHttpResponse):
    """Closes its source when Django closes the response (on the request's thread), however the
    body ended: read to the end, cut short, or abandoned by the client."""

    def __init__(self, content: Any, source: Iterator[bytes], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._source = source

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()
        super().close()


def streaming_response(request: HttpRequest, chunks: Iterable[bytes], **kwargs: Any) -> StreamingHttpResponse:
    """A StreamingHttpResponse over ``chunks`` that holds one chunk at a time, under ASGI or WSGI.

    Daphne does not wait for a slow client before taking the next chunk, so callers bound how much
    one response may carry (the playback endpoint answers a window of a range at a time)."""
    source = iter(chunks)
    if isinstance(request, ASGIRequest):
        return _Streamed(_pulled(source), source, **kwargs)
    return _Streamed(source, source, **kwargs)


Private = TypeVar("Private", HttpResponse, StreamingHttpResponse)


def private(response: Private, *, disposition: str = "inline") -> Private:
    """For personal data: never kept in a cache; shown in the page unless ``disposition`` says otherwise."""
    response["Content-Disposition"] = disposition
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    return response


class _Echo:
    """A file whose write hands back what it was given, so csv.writer makes one line at a time."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable[Any]]) -> Iterator[bytes]:
    """Each row as one UTF-8 CSV line, made as it is read: for streaming exports."""
    writer = csv.writer(_Echo())
    return (str(writer.writerow(row)).encode() for row in rows)
