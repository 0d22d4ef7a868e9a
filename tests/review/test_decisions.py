"""Decisions: a verdict with a note on each flag, and a signed decision with reasons on the session.
A concern needs a second person to confirm it; the student may appeal once; only people decide, and a
refused decision changes nothing."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse

from analysis.models import Flag
from exams.models import ExamSession
from exams.models import SessionStatus as S
from proctor.models import AuditEvent
from review.models import Appeal, FlagDecision, SessionDecision
from review.services import DecisionError, flag_decide, session_appeal, session_decide
from tests.conftest import World, client_as, state_purpose
from tests.review.test_dashboard import analysed


@pytest.fixture
def flagged(world: World) -> World:
    analysed(world.session, score=18.0, flags={"speech": 1, "multiple_faces": 1, "recording_gap": 1})
    return world


def status(world: World) -> str:
    return ExamSession.objects.get(pk=world.session.pk).status


def concern_flags(world: World) -> list[Flag]:
    return list(Flag.objects.filter(session=world.session, category="concern"))


def decide_every_flag(world: World, verdict: str = "dismissed") -> None:
    for flag in concern_flags(world):
        flag_decide(flag_id=flag.pk, verdict=verdict, note="Looked at it.", actor=world.users["instructor"])


# Verdicts on flags -----------------------------------------------------------------------------------


def test_a_verdict_on_a_flag_is_recorded_with_its_note_reviewer_and_audit(flagged: World) -> None:
    flag = concern_flags(flagged)[0]
    decision = flag_decide(
        flag_id=flag.pk, verdict="dismissed", note="  Reading the question aloud.  ", actor=flagged.users["reviewer"]
    )
    assert (decision.verdict, decision.note, decision.reviewer_name) == (
        "dismissed",
        "Reading the question aloud.",
        flagged.users["reviewer"].get_full_name(),
    )
    event = AuditEvent.objects.get(action="flag.decide")
    assert event.actor_id == flagged.users["reviewer"].pk
    # The permanent log says a note exists, not what it says: the words stay on the decision row.
    assert event.detail == {
        "flag": flag.pk,
        "kind": flag.kind,
        "verdict": "dismissed",
        "decision": decision.pk,
        "note_chars": len("Reading the question aloud."),
    }


def test_a_later_verdict_replaces_the_current_one_and_both_are_kept(flagged: World) -> None:
    flag = concern_flags(flagged)[0]
    flag_decide(flag_id=flag.pk, verdict="dismissed", note="first look", actor=flagged.users["reviewer"])
    flag_decide(flag_id=flag.pk, verdict="confirmed", note="second look", actor=flagged.users["instructor"])
    assert [d.verdict for d in FlagDecision.objects.filter(flag=flag)] == ["dismissed", "confirmed"]


@pytest.mark.parametrize(
    ("verdict", "note", "message"),
    [
        ("dismissed", "   ", "Write a note"),
        ("maybe", "a note", "confirmed or dismissed"),
        ("", "a note", "confirmed or dismissed"),
        ("confirmed", "x" * 5001, "under 5,000 characters"),
    ],
)
def test_a_bad_verdict_is_refused_with_a_reason_and_changes_nothing(
    flagged: World, verdict: str, note: str, message: str
) -> None:
    with pytest.raises(DecisionError, match=message):
        flag_decide(flag_id=concern_flags(flagged)[0].pk, verdict=verdict, note=note, actor=flagged.users["reviewer"])
    assert not FlagDecision.objects.exists()
    assert not AuditEvent.objects.filter(action="flag.decide").exists()


@pytest.mark.parametrize("actor", [None, AnonymousUser()])
def test_the_system_cannot_decide_a_flag(flagged: World, actor: Any) -> None:
    with pytest.raises(DecisionError, match="Only a signed-in person"):
        flag_decide(flag_id=concern_flags(flagged)[0].pk, verdict="confirmed", note="auto", actor=actor)
    assert not FlagDecision.objects.exists()


@pytest.mark.parametrize("current", [S.STARTED, S.ANALYSING, S.SECOND_REVIEW, S.CLEARED, S.CONCERN_CONFIRMED])
def test_flags_are_decided_only_while_the_session_awaits_review(flagged: World, current: str) -> None:
    ExamSession.objects.filter(pk=flagged.session.pk).update(status=current)
    with pytest.raises(DecisionError, match="awaits review"):
        flag_decide(
            flag_id=concern_flags(flagged)[0].pk, verdict="confirmed", note="n", actor=flagged.users["reviewer"]
        )
    assert not FlagDecision.objects.exists()


# Decisions on sessions --------------------------------------------------------------------------------


def test_no_concern_needs_every_possible_concern_flag_decided_first(flagged: World) -> None:
    instructor = flagged.users["instructor"]
    flag_decide(flag_id=concern_flags(flagged)[0].pk, verdict="dismissed", note="fine", actor=instructor)
    with pytest.raises(DecisionError, match="1 flag has no verdict"):
        session_decide(session_id=flagged.session.pk, outcome="no_concern", note="All fine.", actor=instructor)
    assert status(flagged) == S.READY_FOR_REVIEW
    assert not SessionDecision.objects.exists()

    decide_every_flag(flagged)  # the technical recording gap needs no verdict
    decision = session_decide(session_id=flagged.session.pk, outcome="no_concern", note="All fine.", actor=instructor)
    assert status(flagged) == S.CLEARED
    assert (decision.from_status, decision.to_status, decision.reviewer_name) == (
        S.READY_FOR_REVIEW,
        S.CLEARED,
        instructor.get_full_name(),
    )
    transition = flagged.session.transitions.get(to_status=S.CLEARED)
    assert transition.actor == instructor
    assert transition.reason == f"No concern, decided by {instructor.get_full_name()}."
    event = AuditEvent.objects.get(action="session.decide", actor_id=instructor.pk)
    assert event.detail["decision"] == decision.pk
    assert "All fine." not in str(AuditEvent.objects.values_list("detail", flat=True))


@pytest.mark.parametrize(
    ("outcome", "note", "message"),
    [("no_concern", "", "Write a note"), ("expelled", "bad", "Choose a decision"), ("confirmed", "n", "cannot be")],
)
def test_a_bad_session_decision_is_refused_and_changes_nothing(
    flagged: World, outcome: str, note: str, message: str
) -> None:
    decide_every_flag(flagged)
    with pytest.raises(DecisionError, match=message):
        session_decide(session_id=flagged.session.pk, outcome=outcome, note=note, actor=flagged.users["instructor"])
    assert status(flagged) == S.READY_FOR_REVIEW
    assert not SessionDecision.objects.exists()
    assert not AuditEvent.objects.filter(action__in=["session.decide", "session.transition"]).exists()


@pytest.mark.parametrize("actor", [None, AnonymousUser()])
def test_the_system_cannot_decide_a_session(flagged: World, actor: Any) -> None:
    decide_every_flag(flagged)
    for outcome in ("no_concern", "referred"):
        with pytest.raises(DecisionError, match="Only a signed-in person"):
            session_decide(session_id=flagged.session.pk, outcome=outcome, note="score above 15", actor=actor)
    assert status(flagged) == S.READY_FOR_REVIEW


def test_a_concern_is_final_only_when_a_second_person_confirms_it(flagged: World) -> None:
    instructor, reviewer = flagged.users["instructor"], flagged.users["reviewer"]
    decide_every_flag(flagged, "confirmed")
    session_decide(session_id=flagged.session.pk, outcome="referred", note="A voice at 2:10.", actor=instructor)
    assert status(flagged) == S.SECOND_REVIEW

    with pytest.raises(DecisionError, match="someone other than the person who referred it"):
        session_decide(session_id=flagged.session.pk, outcome="confirmed", note="Agreed.", actor=instructor)
    assert status(flagged) == S.SECOND_REVIEW

    session_decide(session_id=flagged.session.pk, outcome="confirmed", note="Agreed, two voices.", actor=reviewer)
    assert status(flagged) == S.CONCERN_CONFIRMED
    assert [d.outcome for d in SessionDecision.objects.filter(session=flagged.session)] == ["referred", "confirmed"]

    with pytest.raises(DecisionError, match="cannot be decided while the session is concern confirmed"):
        session_decide(session_id=flagged.session.pk, outcome="no_concern", note="Changed my mind.", actor=instructor)


def test_a_second_reviewer_who_disagrees_sends_the_session_back(flagged: World) -> None:
    decide_every_flag(flagged, "confirmed")
    session_decide(session_id=flagged.session.pk, outcome="referred", note="Voice.", actor=flagged.users["instructor"])
    session_decide(
        session_id=flagged.session.pk, outcome="sent_back", note="It is the radio.", actor=flagged.users["reviewer"]
    )
    assert status(flagged) == S.READY_FOR_REVIEW


def test_the_referrer_may_withdraw_but_is_offered_nothing_else(flagged: World) -> None:
    decide_every_flag(flagged, "confirmed")
    session_decide(session_id=flagged.session.pk, outcome="referred", note="Voice.", actor=flagged.users["instructor"])
    page = reviewing(flagged, "instructor").get(reverse("review_session", args=[flagged.session.pk]))
    assert [value for value, _ in page.context["decision_choices"]] == ["sent_back"]
    second = reviewing(flagged, "reviewer").get(reverse("review_session", args=[flagged.session.pk]))
    assert [value for value, _ in second.context["decision_choices"]] == ["confirmed", "sent_back"]
    session_decide(
        session_id=flagged.session.pk, outcome="sent_back", note="On reflection, no.", actor=flagged.users["instructor"]
    )
    assert status(flagged) == S.READY_FOR_REVIEW


def test_a_session_whose_analysis_failed_is_decided_from_the_recordings(world: World) -> None:
    ExamSession.objects.filter(pk=world.session.pk).update(status=S.ANALYSIS_FAILED)
    session_decide(
        session_id=world.session.pk, outcome="no_concern", note="Watched it all.", actor=world.users["admin"]
    )
    assert [t.to_status for t in world.session.transitions.all()] == [S.READY_FOR_REVIEW, S.CLEARED]


# Appeals -------------------------------------------------------------------------------------------------


def confirmed(world: World) -> None:
    decide_every_flag(world, "confirmed")
    session_decide(session_id=world.session.pk, outcome="referred", note="Voice.", actor=world.users["instructor"])
    session_decide(session_id=world.session.pk, outcome="confirmed", note="Agreed.", actor=world.users["reviewer"])


def test_an_appeal_reopens_a_confirmed_concern_for_review_once(flagged: World) -> None:
    confirmed(flagged)
    student = flagged.users["student"]
    appeal = session_appeal(session_id=flagged.session.pk, grounds="It was my radio.", actor=student)
    assert status(flagged) == S.APPEALED
    event = AuditEvent.objects.get(action="session.appeal", actor_id=student.pk)
    assert event.detail == {"appeal": appeal.pk, "grounds_chars": len("It was my radio.")}

    # Reviewed again: flags can be re-decided, and this time it is cleared.
    flag = concern_flags(flagged)[0]
    flag_decide(flag_id=flag.pk, verdict="dismissed", note="The radio.", actor=flagged.users["admin"])
    session_decide(
        session_id=flagged.session.pk, outcome="no_concern", note="Upheld the appeal.", actor=flagged.users["admin"]
    )
    assert status(flagged) == S.CLEARED

    with pytest.raises(DecisionError, match="already appealed once"):
        session_appeal(session_id=flagged.session.pk, grounds="Again.", actor=student)
    assert Appeal.objects.count() == 1


def test_an_appeal_sent_back_by_the_second_reviewer_stays_under_appeal(flagged: World) -> None:
    confirmed(flagged)
    session_appeal(session_id=flagged.session.pk, grounds="It was my radio.", actor=flagged.users["student"])
    session_decide(
        session_id=flagged.session.pk, outcome="referred", note="Still a voice.", actor=flagged.users["admin"]
    )
    session_decide(
        session_id=flagged.session.pk, outcome="sent_back", note="Listen again.", actor=flagged.users["reviewer"]
    )
    assert status(flagged) == S.APPEALED


def test_a_refused_decision_on_a_session_another_reviewer_just_closed_keeps_the_text(flagged: World) -> None:
    decide_every_flag(flagged)
    session_decide(session_id=flagged.session.pk, outcome="no_concern", note="Fine.", actor=flagged.users["reviewer"])
    response = reviewing(flagged, "instructor").post(
        reverse("review_session_decision", args=[flagged.session.pk]),
        {"outcome": "referred", "note": "My long careful reasons."},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "The decision was not recorded" in html
    assert "My long careful reasons." in html
    assert "as the session can no longer take this decision" in html


@pytest.mark.parametrize("current", [S.READY_FOR_REVIEW, S.SECOND_REVIEW, S.CLEARED])
def test_only_a_confirmed_concern_is_appealed(flagged: World, current: str) -> None:
    ExamSession.objects.filter(pk=flagged.session.pk).update(status=current)
    with pytest.raises(DecisionError, match="Only a confirmed concern"):
        session_appeal(session_id=flagged.session.pk, grounds="Why?", actor=flagged.users["student"])
    assert not Appeal.objects.exists()


def test_an_appeal_needs_grounds(flagged: World) -> None:
    confirmed(flagged)
    with pytest.raises(DecisionError, match="grounds"):
        session_appeal(session_id=flagged.session.pk, grounds="  ", actor=flagged.users["student"])
    assert status(flagged) == S.CONCERN_CONFIRMED


# Pages --------------------------------------------------------------------------------------------------


def test_the_page_script_gets_json_and_the_count_of_flags_left(flagged: World) -> None:
    flag = concern_flags(flagged)[0]
    response = client_as(flagged, "reviewer").post(
        reverse("flag_decision", args=[flag.pk]),
        {"verdict": "dismissed", "note": "Allowed notes."},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    answer = response.json()
    assert (answer["verdict_label"], answer["note"], answer["undecided"]) == ("Dismissed", "Allowed notes.", 1)

    refused = client_as(flagged, "reviewer").post(
        reverse("flag_decision", args=[flag.pk]), {"verdict": "dismissed", "note": ""}, HTTP_ACCEPT="application/json"
    )
    assert refused.status_code == 400
    assert "Write a note" in refused.json()["error"]


def test_without_script_a_refused_decision_comes_back_with_what_was_typed(flagged: World) -> None:
    decide_every_flag(flagged)
    response = reviewing(flagged, "instructor").post(
        reverse("review_session_decision", args=[flagged.session.pk]), {"outcome": "", "note": "My careful reasons."}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "The decision was not recorded" in html
    assert "My careful reasons." in html
    assert status(flagged) == S.READY_FOR_REVIEW


def test_the_review_page_shows_verdicts_the_decision_form_and_the_signature(flagged: World) -> None:
    flag_decide(
        flag_id=concern_flags(flagged)[0].pk,
        verdict="confirmed",
        note="Clearly two voices.",
        actor=flagged.users["reviewer"],
    )
    html = reviewing(flagged, "instructor").get(reverse("review_session", args=[flagged.session.pk])).content.decode()
    assert "Clearly two voices." in html
    assert "No verdict yet" in html
    assert "Flags still without a verdict: <span data-undecided>1</span>" in html
    assert f"Signed: <strong>{flagged.users['instructor'].get_full_name()}</strong>" in html
    assert 'value="referred"' in html


def test_the_student_reads_the_reasons_and_appeals_from_their_session(flagged: World) -> None:
    confirmed(flagged)
    client = client_as(flagged, "student")
    page = client.get(reverse("session_detail", args=[flagged.session.pk])).content.decode()
    assert "Read the reasons and appeal" in page
    form = client.get(reverse("review_appeal", args=[flagged.session.pk])).content.decode()
    assert "Agreed." in form
    blank = client.post(reverse("review_appeal", args=[flagged.session.pk]), {"grounds": ""})
    assert blank.status_code == 400
    assert status(flagged) == S.CONCERN_CONFIRMED
    lodged = client.post(reverse("review_appeal", args=[flagged.session.pk]), {"grounds": "It was the radio."})
    assert lodged.status_code == 302
    assert status(flagged) == S.APPEALED


# Export -------------------------------------------------------------------------------------------------


def rows(response: Any) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_export_lists_scores_flags_verdicts_and_outcomes(flagged: World) -> None:
    confirmed(flagged)
    analysed(flagged.other_session, score=1.0, flags={})
    response = client_as(flagged, "reviewer").get(reverse("review_export", args=[flagged.course.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="phys101-all-exams-review-')
    assert response["Cache-Control"] == "no-store, private"
    first, second = rows(response)
    assert first["Username"] == "student"
    assert (first["Score"], first["Possible-concern flags"], first["Technical flags"]) == ("18.0", "2", "1")
    assert (first["Speech flags"], first["Recording gap flags"]) == ("1", "1")
    assert (first["Flags confirmed"], first["Flags dismissed"], first["Flags without a verdict"]) == ("2", "0", "0")
    assert first["Outcome"] == "Concern confirmed"
    assert first["Decided by"] == (
        f"{flagged.users['instructor'].get_full_name()}; {flagged.users['reviewer'].get_full_name()}"
    )
    assert first["Appealed"] == "No"
    assert (second["Username"], second["Outcome"], second["Decided by"]) == ("other_student", "Awaiting review", "")
    event = AuditEvent.objects.get(action="review.export")
    assert event.detail == {"course": flagged.course.pk, "exam": None}


def test_the_export_of_one_exam_and_a_bad_exam(flagged: World) -> None:
    client = client_as(flagged, "instructor")
    one = client.get(reverse("review_export", args=[flagged.course.pk]) + f"?exam={flagged.exam.pk}")
    assert len(rows(one)) == 2
    for bad in (str(flagged.other_exam.pk), "nonsense"):
        refused = client.get(reverse("review_export", args=[flagged.course.pk]) + f"?exam={bad}")
        assert refused.status_code == 400
        assert "not in this course" in refused.content.decode()
    assert AuditEvent.objects.filter(action="review.export").count() == 1


def test_a_spreadsheet_never_runs_an_exported_cell_as_a_formula(flagged: World) -> None:
    student = flagged.users["student"]
    student.first_name, student.last_name = '=HYPERLINK("http://evil")', "+1"
    student.save()
    response = client_as(flagged, "instructor").get(reverse("review_export", args=[flagged.course.pk]))
    by_user = {row["Username"]: row for row in rows(response)}
    assert by_user["student"]["Student"].startswith("'=HYPERLINK")


def test_the_export_reads_in_batches_not_per_session(
    flagged: World, django_assert_max_num_queries: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from review import selectors
    from tests.factories import ExamSessionFactory, UserFactory

    monkeypatch.setattr(selectors, "EXPORT_BATCH", 10)
    for index in range(25):
        session = ExamSessionFactory(exam=flagged.exam, student=UserFactory(username=f"s{index:02}"))
        analysed(session, score=float(index), flags={"no_face": 1})
    client = client_as(flagged, "instructor")
    client.get(reverse("home"))  # the sign-in's first request notes its start (exams/staff_sessions.py)
    # 27 sessions in 3 batches of at most 10: a handful of queries per batch, however many sessions,
    # one for the students the audit entry names, and one for the questions whose marks it lists.
    with django_assert_max_num_queries(3 * 6 + 10):
        assert len(rows(client.get(reverse("review_export", args=[flagged.course.pk])))) == 27


def test_a_reviewer_runs_a_failed_analysis_again_and_only_a_failed_one(world: World) -> None:
    client = reviewing(world, "reviewer")
    url = reverse("review_reanalyse", args=[world.session.pk])
    ExamSession.objects.filter(pk=world.session.pk).update(status=S.READY_FOR_REVIEW)
    refused = client.post(url, follow=True)
    assert "The analysis was not started again" in refused.content.decode()
    assert status(world) == S.READY_FOR_REVIEW

    ExamSession.objects.filter(pk=world.session.pk).update(status=S.ANALYSIS_FAILED)
    page = client.get(reverse("review_session", args=[world.session.pk])).content.decode()
    assert "Run the analysis again" in page
    done = client.post(url, follow=True)
    assert "The analysis will run again" in done.content.decode()
    assert status(world) == S.ANALYSING
    transition = world.session.transitions.get(to_status=S.ANALYSING)
    assert transition.actor == world.users["reviewer"]
    assert AuditEvent.objects.filter(action="session.transition", actor_id=world.users["reviewer"].pk).exists()


def reviewing(world: World, role: str) -> Any:
    """Signed in, with a purpose stated for the session (review.access)."""
    client = client_as(world, role)
    state_purpose(client, world.session)
    return client


@pytest.mark.parametrize("text", ["Looked\x00 at it.", "Looked\x07 at it."])
def test_a_note_with_a_control_character_gets_400_and_changes_nothing(flagged: World, text: str) -> None:
    flag = concern_flags(flagged)[0]
    client = client_as(flagged, "reviewer")
    url = reverse("flag_decision", args=[flag.pk])
    refused = client.post(url, {"verdict": "dismissed", "note": text}, HTTP_ACCEPT="application/json")
    assert refused.status_code == 400
    assert "control character" in refused.json()["error"]
    assert not FlagDecision.objects.exists()
    plain = client.post(
        url, {"verdict": "dismissed", "note": "Looked\tat it,\r\nline by line."}, HTTP_ACCEPT="application/json"
    )
    assert plain.status_code == 200
    assert FlagDecision.objects.get().note == "Looked\tat it,\r\nline by line."


def test_appeal_grounds_with_a_nul_get_400_and_lodge_nothing(flagged: World) -> None:
    confirmed(flagged)
    client = client_as(flagged, "student")
    refused = client.post(reverse("review_appeal", args=[flagged.session.pk]), {"grounds": "It was\x00 the radio."})
    assert refused.status_code == 400
    assert "control character" in refused.content.decode()
    assert not Appeal.objects.exists()
    assert status(flagged) == S.CONCERN_CONFIRMED
