"""Streaming responses that stay streaming under Daphne.

Django serves a StreamingHttpResponse built on a plain iterator under ASGI by reading the whole
iterator into a list first, so a decrypted recording or a large export would sit whole in memory.
Under ASGI the body is therefore handed over as an asynchronous iterator that pulls one chunk at a
time in the request's thread (database connections and all); under WSGI the plain iterator streams
as it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse

_END = object()


def _next(iterator: Iterator[bytes]) -> Any:
    return next(iterator, _END)


async def _pulled(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    iterator = iter(chunks)
    pull = sync_to_async(_next, thread_sensitive=True)
    try:
        while (chunk := await pull(iterator)) is not _END:
            yield chunk
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


def streaming_response(request: HttpRequest, chunks: Iterable[bytes], **kwargs: Any) -> StreamingHttpResponse:
    """A StreamingHttpResponse over ``chunks`` that holds one chunk at a time, under ASGI or WSGI."""
    content = _pulled(chunks) if isinstance(request, ASGIRequest) else chunks
    return StreamingHttpResponse(content, **kwargs)
