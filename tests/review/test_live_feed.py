"""The review dashboard's live feed, through the real ASGI stack: only the exam's instructors,
reviewers and admins may listen, and they hear status changes and analysis progress."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from exams.models import SessionStatus
from exams.services import session_transition
from proctor.asgi import application
from recordings import protocol
from tests.conftest import World
from tests.recordings.test_consumer import ORIGIN, cookie_for, expect_close

pytestmark = pytest.mark.django_db(transaction=True)


async def listen(world: World, role: str | None, exam_id: int | None = None) -> WebsocketCommunicator:
    headers = [ORIGIN, (b"host", b"localhost")]
    user = world.users[role] if role else None
    if user is not None:
        headers.append((b"cookie", await sync_to_async(cookie_for)(user)))
    communicator = WebsocketCommunicator(application, f"/ws/review/exams/{exam_id or world.exam.pk}/", headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


@pytest.mark.parametrize("role", ["instructor", "reviewer", "admin"])
async def test_the_exams_staff_hear_status_changes_and_analysis_progress(world: World, role: str) -> None:
    communicator = await listen(world, role)
    assert await communicator.receive_json_from(timeout=5) == {"type": "ready"}

    await sync_to_async(session_transition)(
        session_id=world.session.pk, to_status=SessionStatus.CONSENTED, actor=None, reason="test"
    )
    event = await communicator.receive_json_from(timeout=5)
    assert (event["type"], event["session_id"], event["status"]) == (
        "session.status",
        str(world.session.pk),
        "consented",
    )

    from exams.services import exam_group
    from proctor.realtime import group_send_now

    progress = {"session_id": str(world.session.pk), "status": "running", "stage": "Analysing", "progress": 40}
    await sync_to_async(group_send_now)(exam_group(world.exam.pk), "analysis.progress", progress)
    assert await communicator.receive_json_from(timeout=5) == {"type": "analysis.progress", **progress}
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("role", "code"),
    [
        ("student", protocol.CLOSE_FORBIDDEN),
        ("other_student", protocol.CLOSE_FORBIDDEN),
        ("other_instructor", protocol.CLOSE_FORBIDDEN),
        ("outsider", protocol.CLOSE_FORBIDDEN),
        (None, protocol.CLOSE_UNAUTHENTICATED),
    ],
)
async def test_everyone_else_is_refused_with_a_clear_close_code(world: World, role: str | None, code: int) -> None:
    communicator = await listen(world, role)
    closing: dict[str, Any] = await expect_close(communicator, code)
    assert closing["message"]


async def test_an_unknown_exam_is_not_found(world: World) -> None:
    communicator = await listen(world, "admin", exam_id=999_999)
    await expect_close(communicator, protocol.CLOSE_NOT_FOUND)


async def test_the_exams_staff_hear_of_a_session_opened_and_only_of_the_first_opening(world: World) -> None:
    from exams.services import session_open
    from tests.factories import UserFactory

    newcomer = await sync_to_async(UserFactory)(username="newcomer")
    communicator = await listen(world, "reviewer")
    assert await communicator.receive_json_from(timeout=5) == {"type": "ready"}

    session = await sync_to_async(session_open)(exam=world.exam, student=newcomer)
    assert await communicator.receive_json_from(timeout=5) == {"type": "session.opened", "session_id": str(session.pk)}
    await sync_to_async(session_open)(exam=world.exam, student=newcomer)  # the same session, opened again
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()
