"""The recording socket of an exam that requires Safe Exam Browser, through the real ASGI stack: it
opens with SEB's headers for the socket's own URL, or after the exam's page was verified in the same
signed-in session; otherwise it closes with the reason, records nothing, and the refusal is audited."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from lockdown.websocket import REFUSAL
from proctor.asgi import application
from proctor.models import AuditEvent
from recordings import protocol
from recordings.models import Recording
from recordings.tokens import stream_token_for
from tests.conftest import World
from tests.lockdown.conftest import MAC_KEY, WIN_KEY, absolute, seb_headers
from tests.recordings.test_consumer import ORIGIN, expect_close, start_exam, start_stream

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in(world: World, *, verify_page: bool = False) -> Client:
    client = Client()
    client.force_login(world.users["student"])
    if verify_page:
        url = reverse("session_exam", args=[world.session.pk])
        assert client.get(url, **seb_headers(absolute(url))).status_code != 403
    return client


async def connect(
    world: World,
    client: Client,
    *,
    key: str | None = None,
    url_path: str | None = None,
    origin: tuple[bytes, bytes] = ORIGIN,
    scheme: str = "ws",
) -> Any:
    token = await sync_to_async(stream_token_for)(session_id=world.session.pk, user_id=world.users["student"].pk)
    path = f"/ws/sessions/{world.session.pk}/stream/?token={token}"
    headers = [origin, (b"host", b"localhost"), (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]
    if key is not None:
        signed = f"{scheme}://localhost{url_path or path}"
        hashed = seb_headers(signed, config_key=key)["HTTP_X_SAFEEXAMBROWSER_CONFIGKEYHASH"]
        headers.append((b"x-safeexambrowser-configkeyhash", hashed.encode()))
    communicator = WebsocketCommunicator(application, path, headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


@pytest.fixture
def started_seb_world(seb_world: World) -> World:
    start_exam(seb_world)
    return seb_world


async def test_a_socket_signed_for_its_own_url_records(started_seb_world: World) -> None:
    client = await sync_to_async(signed_in)(started_seb_world)
    communicator = await connect(started_seb_world, client, key=MAC_KEY)
    assert (await start_stream(communicator))["type"] == "started"
    await communicator.disconnect()


async def test_a_socket_from_a_page_served_over_https_is_checked_for_its_wss_url(started_seb_world: World) -> None:
    """SEB hashes the URL it opened, wss:// under HTTPS; Daphne's scope names no scheme, the Origin does."""
    client = await sync_to_async(signed_in)(started_seb_world)
    https = (b"origin", b"https://localhost")
    communicator = await connect(started_seb_world, client, key=MAC_KEY, origin=https, scheme="wss")
    assert (await start_stream(communicator))["type"] == "started"
    await communicator.disconnect()
    refused = await connect(started_seb_world, client, key=MAC_KEY, origin=https, scheme="ws")
    closing = await expect_close(refused, protocol.CLOSE_FORBIDDEN)
    assert closing["message"] == REFUSAL


async def test_a_socket_without_headers_opens_after_the_exam_page_was_verified(started_seb_world: World) -> None:
    client = await sync_to_async(signed_in)(started_seb_world, verify_page=True)
    communicator = await connect(started_seb_world, client)
    assert (await start_stream(communicator))["type"] == "started"
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("key", "url_path"),
    [
        pytest.param(None, None, id="no headers and no verified page"),
        pytest.param(WIN_KEY, None, id="another configuration"),
        pytest.param(MAC_KEY, "/ws/sessions/another/stream/", id="signed for another URL"),
    ],
)
async def test_any_other_socket_is_closed_with_the_reason_and_records_nothing(
    started_seb_world: World, key: str | None, url_path: str | None
) -> None:
    client = await sync_to_async(signed_in)(started_seb_world)
    communicator = await connect(started_seb_world, client, key=key, url_path=url_path)
    closing = await expect_close(communicator, protocol.CLOSE_FORBIDDEN)
    assert closing["message"] == REFUSAL
    assert not await Recording.objects.filter(session=started_seb_world.session).aexists()
    assert await AuditEvent.objects.filter(action="lockdown.refused", outcome="refused").acount() == 1
