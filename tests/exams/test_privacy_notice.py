"""The privacy notice in the lobby: every part shown, each institution's own words, the hash of exactly
what was shown kept with each answer, versions instead of edits, and refusals that change nothing."""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from exams.models import (
    MAX_NOTICE_PART_CHARS,
    NOTICE_PARTS,
    ConsentRecord,
    Exam,
    ExamSession,
    NoticeText,
    PrivacyNotice,
    SessionStatus,
)
from exams.notice import (
    consent_notice_verifies,
    default_notice_parts,
    notice_for_exam,
    notice_render,
    privacy_notice_current,
)
from exams.services import (
    ExamUnavailable,
    NoticeRefused,
    PublishRefused,
    TransitionError,
    exam_publish,
    privacy_notice_add,
    session_consent,
    session_decline,
    session_open,
)
from proctor.models import AuditEvent
from tests.conftest import World, client_as
from tests.factories import CourseFactory, ExamFactory, InstitutionFactory, QuestionFactory, UserFactory, enrol

HEADINGS = [
    "Who runs this exam",
    "Under what authority",
    "What the data is for",
    "What is recorded",
    "Automated analysis and human review",
    "How long it is kept",
    "Who sees it",
    "Where it is kept",
    "Whom to contact",
]


def parts(tag: str, **changes: str) -> dict[str, str]:
    """A complete notice whose every part is recognisable by ``tag``."""
    return {name: f"{tag} {name} part." for name in NOTICE_PARTS} | changes


def write_notice(world: World, tag: str = "Own", **changes: str) -> PrivacyNotice:
    return privacy_notice_add(
        institution_id=world.course.institution_id, parts=parts(tag, **changes), actor=world.users["admin"]
    )


class _NoticeText(HTMLParser):
    """The words of the page's notice section, put together the way exams.notice hashes them: title,
    then per section its heading, paragraphs and "- " list items, one a line."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # inside section#privacy-notice
        self.tag: str | None = None
        self.skip = False
        self.blocks: list[list[str]] = []
        self.buffer = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "section" and attributes.get("id") == "privacy-notice":
            self.depth = 1
            return
        if not self.depth:
            return
        if tag == "section":
            self.depth += 1
        if tag in {"h2", "h3", "p", "li"}:
            self.tag, self.buffer = tag, ""
            self.skip = "field__help" in (attributes.get("class") or "") or bool(self.blocks and tag == "h2")

    def handle_endtag(self, tag: str) -> None:
        if not self.depth:
            return
        if tag == "section":
            self.depth -= 1
        if tag == self.tag and not self.skip:
            text = self.buffer.strip()
            if tag in {"h2", "h3"}:
                self.blocks.append([text])
            else:
                self.blocks[-1].append(f"- {text}" if tag == "li" else text)
        if tag == self.tag:
            self.tag = None

    def handle_data(self, data: str) -> None:
        if self.depth and self.tag:
            self.buffer += data


def shown_text(html: str) -> str:
    parser = _NoticeText()
    parser.feed(html)
    return "\n\n".join("\n".join(block) for block in parser.blocks) + "\n"


def hidden(html: str, name: str) -> str:
    values = set(re.findall(rf'<input type="hidden" name="{name}" value="([^"]*)"', html))
    assert len(values) == 1, values
    return values.pop()


def consent_through_the_page(client: Client, session: ExamSession) -> tuple[str, Any]:
    page = client.get(reverse("session_consent", args=[session.pk])).content.decode()
    form = {"policy": hidden(page, "policy"), "notice": hidden(page, "notice"), "agree": "on"}
    return page, client.post(reverse("session_consent", args=[session.pk]), form)


def test_the_lobby_shows_every_part_of_the_notice_under_its_heading(world: World) -> None:
    institution = world.course.institution
    institution.recording_retention_days, institution.profile_retention_days = 90, 200
    institution.appeal_window_days = 21
    institution.save()
    notice = write_notice(world)
    body = client_as(world, "student").get(reverse("exam_lobby", args=[world.exam.pk])).content.decode()

    assert f'<h2 id="privacy-notice-title">Privacy notice of {institution.name}, version {notice.version}</h2>' in body
    for heading in HEADINGS:
        assert f"<h3>{heading}</h3>" in body
    for name in NOTICE_PARTS:
        assert f"Own {name} part." in body
    # What this exam records, from the exam; the course's staff by name.
    assert "Your webcam" in body
    assert "Your microphone" in body
    assert "Your entire screen" in body
    assert f"{world.users['instructor'].get_full_name()}, instructor of PHYS101" in body
    assert f"{world.users['reviewer'].get_full_name()}, reviewer of PHYS101" in body
    assert "A person reviews every flag. No decision about you is made by a machine" in body
    # The retention figures are the institution's settings that the purge uses, not words of the notice.
    assert "deleted 90 days after the exam closes" in body
    assert "deleted at most 200 days after they were last used" in body
    assert "appeal a confirmed concern for 21 days" in body


def test_the_notice_lists_only_the_streams_the_exam_records(world: World) -> None:
    Exam.objects.filter(pk=world.exam.pk).update(record_audio=False, record_screen=False)
    body = client_as(world, "student").get(reverse("exam_lobby", args=[world.exam.pk])).content.decode()
    assert "Your webcam" in body
    assert "Your microphone" not in body
    assert "Your entire screen" not in body


def test_each_institution_shows_its_own_notice_for_its_exams(world: World) -> None:
    write_notice(world, "Northern")
    elsewhere = CourseFactory(code="HIST300", institution=InstitutionFactory(name="Southern College"))
    other_exam = ExamFactory(course=elsewhere, title="Essay")
    enrol(world.users["student"], elsewhere, "student")
    privacy_notice_add(institution_id=elsewhere.institution_id, parts=parts("Southern"), actor=world.users["admin"])
    student = client_as(world, "student")

    here = student.get(reverse("exam_lobby", args=[world.exam.pk])).content.decode()
    there = student.get(reverse("exam_lobby", args=[other_exam.pk])).content.decode()
    assert "Northern controller part." in here
    assert "Southern" not in here
    assert "Southern controller part." in there
    assert "Northern" not in there
    assert "Privacy notice of Southern College, version 1" in there


def test_consent_keeps_the_hash_of_exactly_the_text_the_page_showed(world: World) -> None:
    write_notice(world)
    page, response = consent_through_the_page(client_as(world, "student"), world.session)
    assert response.status_code == 302

    record = ConsentRecord.objects.get(session=world.session)
    shown = shown_text(page)
    assert record.notice_sha256 == hashlib.sha256(shown.encode()).hexdigest()
    assert hidden(page, "notice") == record.notice_sha256
    assert NoticeText.objects.get(sha256=record.notice_sha256).text == shown
    assert consent_notice_verifies(record)
    # The stored version, rendered again for the exam, gives the same hash.
    assert record.notice is not None
    assert notice_render(record.notice, world.exam).sha256 == record.notice_sha256


def test_the_lobby_and_the_consent_page_show_the_same_notice(world: World) -> None:
    student = client_as(world, "student")
    lobby = student.get(reverse("exam_lobby", args=[world.exam.pk])).content.decode()
    consent = student.get(reverse("session_consent", args=[world.session.pk])).content.decode()
    assert shown_text(lobby) == shown_text(consent) == notice_for_exam(world.exam).text


def test_declining_keeps_the_hash_too(world: World) -> None:
    student = client_as(world, "student")
    page = student.get(reverse("session_consent", args=[world.session.pk])).content.decode()
    form = {"policy": hidden(page, "policy"), "notice": hidden(page, "notice"), "reason": ""}
    assert student.post(reverse("session_decline", args=[world.session.pk]), form).status_code == 200
    record = ConsentRecord.objects.get(session=world.session)
    assert record.decision == "declined"
    assert record.notice_sha256 == hashlib.sha256(shown_text(page).encode()).hexdigest()
    assert consent_notice_verifies(record)


def test_a_changed_notice_is_a_new_version_and_old_answers_still_verify_against_the_old(world: World) -> None:
    first = write_notice(world, "First")
    session_consent(session_id=world.session.pk, policy_id=world.policy.pk, actor=world.users["student"])
    second = write_notice(world, "Second")
    session_consent(session_id=world.other_session.pk, policy_id=world.policy.pk, actor=world.users["other_student"])

    assert (first.version, second.version) == (1, 2)
    first.refresh_from_db()
    assert first.controller == "First controller part."  # the version read is never edited
    old = ConsentRecord.objects.get(session=world.session)
    new = ConsentRecord.objects.get(session=world.other_session)
    assert (old.notice, new.notice) == (first, second)
    assert old.notice_sha256 != new.notice_sha256
    assert "Second controller part." in NoticeText.objects.get(sha256=new.notice_sha256).text
    assert notice_render(first, world.exam).sha256 == old.notice_sha256
    assert notice_render(second, world.exam).sha256 == new.notice_sha256
    assert consent_notice_verifies(old)
    assert consent_notice_verifies(new)


def test_a_kept_text_that_was_altered_no_longer_verifies(world: World) -> None:
    session_consent(session_id=world.session.pk, policy_id=world.policy.pk, actor=world.users["student"])
    record = ConsentRecord.objects.get(session=world.session)
    NoticeText.objects.filter(sha256=record.notice_sha256).update(text="Something else entirely.\n")
    assert not consent_notice_verifies(record)


def test_an_answer_to_a_page_shown_before_the_notice_changed_is_refused_and_changes_nothing(world: World) -> None:
    student = client_as(world, "student")
    page = student.get(reverse("session_consent", args=[world.session.pk])).content.decode()
    write_notice(world, "Newer")
    form = {"policy": hidden(page, "policy"), "notice": hidden(page, "notice"), "agree": "on"}
    response = student.post(reverse("session_consent", args=[world.session.pk]), form)

    body = response.content.decode()
    assert response.status_code == 200
    assert "The privacy notice has changed since this page was shown (it is now version 2)" in body
    assert "Newer controller part." in body  # the new notice is on the page now
    assert not ConsentRecord.objects.exists()
    assert ExamSession.objects.get(pk=world.session.pk).status == SessionStatus.CREATED


def test_a_retention_change_changes_the_notice_and_its_hash(world: World) -> None:
    before = notice_for_exam(world.exam)
    world.course.institution.recording_retention_days = 30
    world.course.institution.save()
    world.exam.refresh_from_db()
    after = notice_for_exam(Exam.objects.select_related("course__institution").get(pk=world.exam.pk))
    assert "deleted 30 days after the exam closes" in after.text
    assert "deleted 180 days after the exam closes" in before.text
    assert after.sha256 != before.sha256


@pytest.mark.parametrize("bad", [{}, {"notice": ""}, {"notice": "x" * 64}, {"notice": "ab" * 40}])
def test_a_consent_or_decline_without_the_shown_notice_is_refused_and_changes_nothing(
    world: World, bad: dict[str, str]
) -> None:
    student = client_as(world, "student")
    consent = student.post(
        reverse("session_consent", args=[world.session.pk]), {"policy": world.policy.pk, "agree": "on", **bad}
    )
    decline = student.post(reverse("session_decline", args=[world.session.pk]), {"policy": world.policy.pk, **bad})
    for response in (consent, decline):
        assert response.status_code == 200
        assert "Reload the page and answer again" in response.content.decode()
    assert not ConsentRecord.objects.exists()
    assert ExamSession.objects.get(pk=world.session.pk).status == SessionStatus.CREATED


def test_an_overlong_decline_reason_is_explained_and_changes_nothing(world: World) -> None:
    notice = notice_for_exam(world.exam).sha256
    response = client_as(world, "student").post(
        reverse("session_decline", args=[world.session.pk]),
        {"policy": world.policy.pk, "notice": notice, "reason": "x" * 2001},
    )
    assert "Your reason is too long" in response.content.decode()
    assert not ConsentRecord.objects.exists()


def test_an_institution_without_a_notice_gets_a_complete_first_one_once(world: World) -> None:
    institution = world.course.institution
    first = privacy_notice_current(institution)
    assert privacy_notice_current(institution) == first
    assert PrivacyNotice.objects.filter(institution=institution).count() == 1
    assert first.parts() == default_notice_parts(institution)
    assert notice_for_exam(world.exam).incomplete == ""


def _incomplete(world: World) -> PrivacyNotice:
    """A version with a blank part, as only a hand-made row (not the admin or the service) can be."""
    return PrivacyNotice.objects.create(
        institution=world.course.institution, version=7, **parts("Broken", authority="  ", contact="")
    )


def test_an_incomplete_notice_stops_publishing_and_says_what_is_missing(world: World) -> None:
    _incomplete(world)
    draft = ExamFactory(course=world.course, published_at=None)
    QuestionFactory(exam=draft)
    with pytest.raises(PublishRefused, match="does not say under what authority .* or whom to contact"):
        exam_publish(exam_id=draft.pk, actor=world.users["instructor"])
    assert not Exam.objects.get(pk=draft.pk).published


def test_an_incomplete_notice_stops_opening_and_consenting_but_not_declining(world: World) -> None:
    _incomplete(world)
    newcomer = UserFactory()
    enrol(newcomer, world.course, "student")
    with pytest.raises(ExamUnavailable, match="privacy notice is incomplete"):
        session_open(exam=world.exam, student=newcomer)
    assert not ExamSession.objects.filter(student=newcomer).exists()
    with pytest.raises(TransitionError, match="privacy notice is incomplete"):
        session_consent(session_id=world.session.pk, policy_id=world.policy.pk, actor=world.users["student"])
    assert not ConsentRecord.objects.exists()
    assert ExamSession.objects.get(pk=world.session.pk).status == SessionStatus.CREATED

    lobby = client_as(world, "other_student").get(reverse("exam_lobby", args=[world.exam.pk])).content.decode()
    assert "privacy notice is incomplete" in lobby
    # Declining records nothing of the student: it is never stopped.
    session_decline(
        session_id=world.other_session.pk, policy_id=world.policy.pk, reason="", actor=world.users["other_student"]
    )
    assert ConsentRecord.objects.get(session=world.other_session).decision == "declined"


@pytest.mark.parametrize(
    ("given", "error"),
    [
        ({"controller": "   "}, "must say who runs the exam"),
        ({"contact": ""}, "must say whom to contact"),
        ({"purposes": "x" * (MAX_NOTICE_PART_CHARS + 1)}, "Keep this part under 3,000 characters"),
        ({"shoe_size": "42"}, "no part called shoe_size"),
    ],
)
def test_the_service_refuses_a_bad_version_and_changes_nothing(world: World, given: dict[str, str], error: str) -> None:
    write_notice(world)
    with pytest.raises(NoticeRefused, match=error):
        write_notice(world, "Changed", **given)
    assert list(PrivacyNotice.objects.values_list("version", flat=True)) == [1]


def test_the_service_refuses_a_version_that_changes_nothing(world: World) -> None:
    write_notice(world)
    with pytest.raises(NoticeRefused, match="Nothing changed"):
        write_notice(world)
    assert PrivacyNotice.objects.count() == 1


ADD_URL = "admin:exams_privacynotice_add"


def admin_form(world: World, **changes: str) -> dict[str, Any]:
    return {"institution": world.course.institution_id, **parts("Admin", **changes)}


def test_an_admin_adds_a_version_from_a_form_filled_with_the_one_in_force(world: World) -> None:
    write_notice(world)
    admin = client_as(world, "admin")
    form = admin.get(reverse(ADD_URL) + f"?institution={world.course.institution_id}").content.decode()
    assert "Own controller part." in form  # filled from the version in force

    response = admin.post(reverse(ADD_URL), admin_form(world))
    assert response.status_code == 302
    added = PrivacyNotice.objects.get(version=2)
    assert added.controller == "Admin controller part."
    assert added.created_by == world.users["admin"]
    assert AuditEvent.objects.filter(action="privacy_notice.add", target_id=str(added.pk)).exists()


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"authority": "  "}, "The notice must say under what authority (legal basis) the data is processed"),
        ({"location": ""}, "The notice must say where the data is kept"),
        ({"recipients": "y" * (MAX_NOTICE_PART_CHARS + 1)}, "Keep this part under 3,000 characters (3,001 given)"),
    ],
)
def test_the_admin_form_refuses_a_blank_or_overlong_part_and_changes_nothing(
    world: World, changes: dict[str, str], error: str
) -> None:
    response = client_as(world, "admin").post(reverse(ADD_URL), admin_form(world, **changes))
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not PrivacyNotice.objects.exists()


def test_the_admin_form_refuses_a_copy_of_the_version_in_force(world: World) -> None:
    client_as(world, "admin").post(reverse(ADD_URL), admin_form(world))
    response = client_as(world, "admin").post(reverse(ADD_URL), admin_form(world))
    assert "Nothing changed: this is what version 1 says already." in response.content.decode()
    assert PrivacyNotice.objects.count() == 1


def test_a_version_cannot_be_edited_in_the_admin(world: World) -> None:
    notice = write_notice(world)
    url = reverse("admin:exams_privacynotice_change", args=[notice.pk])
    response = client_as(world, "admin").post(url, admin_form(world, controller="Rewritten."))
    assert response.status_code == 403
    notice.refresh_from_db()
    assert notice.controller == "Own controller part."


@pytest.mark.parametrize("role", ["student", "instructor", "reviewer", "outsider", "anonymous"])
def test_only_admins_reach_the_notice_form(world: World, role: str) -> None:
    client = client_as(world, role)
    assert client.get(reverse(ADD_URL)).status_code == 302  # to the admin sign-in
    client.post(reverse(ADD_URL), admin_form(world))
    assert not PrivacyNotice.objects.exists()


def test_my_data_shows_the_fingerprint_of_the_notice_beside_each_answer(world: World) -> None:
    session_consent(session_id=world.session.pk, policy_id=world.policy.pk, actor=world.users["student"])
    record = ConsentRecord.objects.get(session=world.session)
    page = client_as(world, "student").get(reverse("my_data")).content.decode()
    assert f'<code class="notice__fingerprint">{record.notice_sha256}</code>' in page


def test_a_new_notice_version_asks_a_student_who_has_not_started_to_consent_again(world: World) -> None:
    student = client_as(world, "student")
    consent_through_the_page(student, world.session)
    write_notice(world, "Newer")

    begin = student.post(reverse("api_session_begin", args=[world.session.pk]))
    assert begin.status_code == 409
    assert "The privacy notice has changed to version 2 since you agreed." in begin.json()["detail"]
    assert ExamSession.objects.get(pk=world.session.pk).status == SessionStatus.CONSENTED
    lobby = student.get(reverse("exam_lobby", args=[world.exam.pk])).content.decode()
    assert "The privacy notice has changed to version 2 since you agreed." in lobby
    page, response = consent_through_the_page(student, world.session)
    assert "The privacy notice below has changed since you agreed" in page
    assert response.status_code == 302

    records = ConsentRecord.objects.filter(session=world.session).order_by("at", "pk")
    assert [r.notice.version for r in records if r.notice] == [1, 2]
    assert records.last().notice_sha256 == hashlib.sha256(shown_text(page).encode()).hexdigest()  # type: ignore[union-attr]


def test_a_new_notice_version_leaves_an_attempt_under_way_be(world: World) -> None:
    session_consent(session_id=world.session.pk, policy_id=world.policy.pk, actor=world.users["student"])
    ExamSession.objects.filter(pk=world.session.pk).update(status=SessionStatus.STARTED)
    write_notice(world, "Newer")
    lobby = client_as(world, "student").get(reverse("exam_lobby", args=[world.exam.pk])).content.decode()
    assert "has changed to version 2 since you agreed" not in lobby


def test_the_institution_admin_page_links_to_a_new_version(world: World) -> None:
    write_notice(world)
    url = reverse("admin:exams_institution_change", args=[world.course.institution_id])
    page = client_as(world, "admin").get(url).content.decode()
    assert "Version 1 in force." in page
    assert reverse(ADD_URL) + f"?institution={world.course.institution_id}" in page
