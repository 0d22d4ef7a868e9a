"""NUL and other control characters in any text get 400 (HTTP) before a view runs, never a 500 after
a write began: one rule (proctor.control_characters) for every form, query and JSON body."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from exams.models import Answer
from exams.services import session_begin
from proctor.control_characters import control_character_problem
from tests.conftest import World
from tests.exams.test_student_flow import ready
from tests.factories import QuestionFactory


@pytest.mark.parametrize(
    "value",
    [
        "a\x00b",
        "bell\x07",
        "escape\x1b[31m",
        "delete\x7f",
        "c1\x85",
        "lone \ud800 surrogate",
        {"detail": ["deep", {"deeper": "\x00"}]},
        {"key\x00": "value"},
        ["fine", "\x01"],
    ],
)
def test_control_characters_anywhere_in_a_value_are_found(value: object) -> None:
    problem = control_character_problem(value)
    assert problem is not None
    assert "control character (U+" in problem


@pytest.mark.parametrize(
    "value",
    ["", "Plain text.", "Tabs\tand lines\r\n", "Ünïcödé ✓ 漢字 🙂", {"a": [1, 2.5, None, True, "b"]}, 42, None],
)
def test_plain_text_passes(value: object) -> None:
    assert control_character_problem(value) is None


def test_a_nested_value_deeper_than_the_stack_is_still_checked() -> None:
    value: object = "\x00"
    for _ in range(5000):
        value = [value]
    assert control_character_problem(value) is not None


@pytest.mark.parametrize("text", ["Because\x00 gravity.", "Because \udfff gravity.", "Because\x08 gravity."])
def test_an_autosaved_answer_with_a_control_character_gets_400_and_saves_nothing(
    world: World, client: Client, text: str
) -> None:
    essay = QuestionFactory(exam=world.exam)
    ready(world)
    session_begin(session_id=world.session.pk, actor=world.users["student"])
    client.force_login(world.users["student"])
    url = reverse("api_session_answer", args=[world.session.pk])
    refused = client.post(url, {"question": essay.pk, "text": text}, content_type="application/json")
    assert refused.status_code == 400
    assert "control character" in refused.json()["detail"]
    assert not Answer.objects.exists()
    saved = client.post(url, {"question": essay.pk, "text": "Because\tgravity.\n"}, content_type="application/json")
    assert saved.status_code == 200
    assert Answer.objects.get().text == "Because\tgravity.\n"


def test_a_query_parameter_with_a_nul_gets_400(world: World, client: Client) -> None:
    client.force_login(world.users["admin"])
    assert client.get(reverse("admin:identity_user_changelist"), {"q": "stu"}).status_code == 200
    refused = client.get(reverse("admin:identity_user_changelist"), {"q": "stu\x00"})
    assert refused.status_code == 400
    assert "U+0000" in refused.content.decode()
