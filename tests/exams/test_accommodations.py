"""Accommodations set per student per exam by the course's instructors: the picker lists the course's
students only, the staff's reason never reaches the student, and an attempt that started keeps the
settings it runs under."""

from __future__ import annotations

import io
import json
import zipfile
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from exams.models import Accommodation, ExamSession
from exams.roster import AccommodationRefused, RosterRefused, accommodation_remove, accommodation_set
from proctor.models import AuditEvent
from tests.conftest import World, client_as
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REASON = "Letter from the disability office, ref. DS-2291: chronic fatigue."


def grant(world: World, **values: Any) -> Accommodation:
    return accommodation_set(
        exam_id=world.exam.pk, student_id=world.users["student"].pk, values=values, actor=world.users["instructor"]
    )


def test_an_instructor_grants_and_changes_an_accommodation_and_only_field_names_are_logged(world: World) -> None:
    accommodation = grant(world, extra_minutes=15, breaks_allowed=1, break_minutes=10, staff_reason=REASON)
    assert (accommodation.extra_minutes, accommodation.breaks_allowed, accommodation.staff_reason) == (15, 1, REASON)
    grant(world, extra_minutes=0, time_multiplier=Decimal("1.25"))
    accommodation.refresh_from_db()
    assert accommodation.allowed_minutes(60) == 75
    events = list(AuditEvent.objects.filter(action="accommodation.set").order_by("id"))
    assert [e.detail["changed"] for e in events] == [
        ["break_minutes", "breaks_allowed", "extra_minutes", "staff_reason"],
        ["extra_minutes", "time_multiplier"],
    ]
    assert REASON not in json.dumps([e.detail for e in events])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"extra_minutes": 10, "time_multiplier": Decimal("1.5")}, "minutes or as a multiplier, not both"),
        ({"time_multiplier": Decimal("5")}, "less than or equal to 4"),
        ({"breaks_allowed": 21}, "less than or equal to 20"),
        ({"staff_reason": "x" * 5001}, "under 5,000 characters"),
        ({"favourite_colour": "blue"}, "no field called favourite_colour"),
    ],
)
def test_a_bad_accommodation_is_refused_and_changes_nothing(world: World, values: dict[str, Any], message: str) -> None:
    with pytest.raises(AccommodationRefused, match=message):
        grant(world, **values)
    assert not Accommodation.objects.exists()
    assert not AuditEvent.objects.filter(action="accommodation.set").exists()


def test_only_the_courses_students_get_an_accommodation(world: World) -> None:
    for person in ("reviewer", "outsider", "other_instructor"):
        with pytest.raises(RosterRefused, match="not on the class list"):
            accommodation_set(
                exam_id=world.exam.pk, student_id=world.users[person].pk, values={}, actor=world.users["instructor"]
            )
    assert not Accommodation.objects.exists()


def test_once_the_attempt_started_its_settings_stay_but_the_note_and_reason_may_change(world: World) -> None:
    grant(world, extra_minutes=15)
    ExamSession.objects.filter(pk=world.session.pk).update(started_at=timezone.now())
    with pytest.raises(AccommodationRefused, match="has started this exam"):
        grant(world, extra_minutes=30)
    with pytest.raises(RosterRefused, match="has started this exam"):
        accommodation_remove(exam_id=world.exam.pk, student_id=world.users["student"].pk, actor=world.users["admin"])
    changed = grant(world, staff_reason=REASON, note="Take your break whenever you need it.")
    assert (changed.extra_minutes, changed.staff_reason) == (15, REASON)


def test_an_accommodation_is_removed_before_the_attempt_starts(world: World) -> None:
    grant(world, no_camera=True)
    accommodation_remove(exam_id=world.exam.pk, student_id=world.users["student"].pk, actor=world.users["instructor"])
    assert not Accommodation.objects.exists()
    assert AuditEvent.objects.filter(action="accommodation.remove").count() == 1
    with pytest.raises(RosterRefused, match="no accommodation"):
        accommodation_remove(
            exam_id=world.exam.pk, student_id=world.users["student"].pk, actor=world.users["instructor"]
        )


def test_the_picker_lists_the_courses_students_and_no_one_else(world: World) -> None:
    UserFactory(username="stranger")
    page = client_as(world, "instructor").get(reverse("exam_accommodations", args=[world.exam.pk])).content.decode()
    picker = page[page.index('<select name="student"') : page.index("</select>")]
    assert f'value="{world.users["student"].pk}"' in picker
    assert f'value="{world.users["other_student"].pk}"' in picker
    assert picker.count("<option") == 2
    client = client_as(world, "instructor")
    # Someone else's id, typed into the address, is not a student of the course either.
    assert (
        client.get(reverse("exam_accommodation_edit", args=[world.exam.pk, world.users["reviewer"].pk])).status_code
        == 404
    )
    assert client.get(reverse("exam_accommodation_pick", args=[world.exam.pk]), {"student": "x"}).status_code == 400


def test_the_form_saves_and_shows_the_reason_to_staff_and_refuses_bad_input(world: World) -> None:
    client = client_as(world, "instructor")
    url = reverse("exam_accommodation_edit", args=[world.exam.pk, world.users["student"].pk])
    form = {"extra_minutes": "10", "time_multiplier": "1.5", "breaks_allowed": "0", "break_minutes": "0"}
    refused = client.post(url, form)
    assert refused.status_code == 400
    assert "Give extra time as minutes or as a multiplier, not both." in refused.content.decode()
    assert not Accommodation.objects.exists()
    saved = client.post(url, {**form, "time_multiplier": "", "staff_reason": REASON}, follow=True)
    assert "The accommodation of" in saved.content.decode()
    assert REASON in saved.content.decode()


def test_the_student_never_sees_the_staff_reason(world: World) -> None:
    grant(world, extra_minutes=15, note="Your extra time is included in the countdown.", staff_reason=REASON)
    student = client_as(world, "student")
    pages = [
        reverse("home"),
        reverse("exam_detail", args=[world.exam.pk]),
        reverse("session_detail", args=[world.session.pk]),
        reverse("my_data"),
    ]
    for url in pages:
        response = student.get(url)
        assert response.status_code == 200, url
        assert "DS-2291" not in response.content.decode(), url
    exam_page = student.get(reverse("exam_detail", args=[world.exam.pk])).content.decode()
    assert "15 minutes extra time" in exam_page
    export = b"".join(student.post(reverse("my_data_download")).streaming_content)
    with zipfile.ZipFile(io.BytesIO(export)) as archive:
        data = archive.read("data.json").decode()
        everything = b"".join(archive.read(name) for name in archive.namelist())
    assert "Your extra time is included in the countdown." in data
    assert b"DS-2291" not in everything
    # The course's reviewers do not see accommodations at all; its instructors see the reason.
    assert (
        "DS-2291" not in client_as(world, "reviewer").get(reverse("exam_detail", args=[world.exam.pk])).content.decode()
    )
    assert (
        "DS-2291"
        in client_as(world, "instructor").get(reverse("exam_accommodations", args=[world.exam.pk])).content.decode()
    )


def test_the_admins_student_picker_lists_the_courses_students_only(world: World) -> None:
    page = client_as(world, "admin").get(reverse("admin:exams_exam_change", args=[world.exam.pk])).content.decode()
    template = page[page.index('name="accommodations-__prefix__-student"') :]
    picker = template[: template.index("</select>")]
    assert f'value="{world.users["student"].pk}"' in picker
    assert f'value="{world.users["other_student"].pk}"' in picker
    for person in ("reviewer", "instructor", "outsider", "other_instructor"):
        assert f'value="{world.users[person].pk}"' not in picker
