"""Admins set and lift legal holds in the admin, with reasons; both audited; a second standing hold
on the same session is refused with a reason and changes nothing; holds are never deleted."""

from __future__ import annotations

from django.urls import reverse

from privacy.models import LegalHold
from proctor.models import AuditEvent
from tests.conftest import World, client_as


def test_an_admin_sets_and_lifts_a_hold_with_reasons(world: World) -> None:
    client = client_as(world, "admin")
    add = reverse("admin:privacy_legalhold_add")
    response = client.post(add, {"session": str(world.session.pk), "reason": "Appeal to the ombudsman, case 88"})
    assert response.status_code == 302, response.content[:500]
    hold = LegalHold.objects.get()
    assert (hold.set_by, hold.reason) == (world.users["admin"], "Appeal to the ombudsman, case 88")
    assert AuditEvent.objects.filter(action="hold.set", target_id=str(world.session.pk)).exists()

    again = client.post(add, {"session": str(world.session.pk), "reason": "Another"})
    assert again.status_code == 200
    assert "already on hold" in again.content.decode()
    assert LegalHold.objects.count() == 1

    change = reverse("admin:privacy_legalhold_change", args=[hold.pk])
    lifted = client.post(change, {"lift_reason": "Ombudsman closed the case"})
    assert lifted.status_code == 302
    hold.refresh_from_db()
    assert hold.lifted_at is not None
    assert hold.lifted_by == world.users["admin"]
    assert AuditEvent.objects.filter(action="hold.lift").exists()
    assert client.post(reverse("admin:privacy_legalhold_delete", args=[hold.pk])).status_code == 403


def test_a_hold_without_a_reason_is_refused(world: World) -> None:
    response = client_as(world, "admin").post(
        reverse("admin:privacy_legalhold_add"), {"session": str(world.session.pk), "reason": "  "}
    )
    assert response.status_code == 200
    assert not LegalHold.objects.exists()


def test_only_admins_reach_holds(world: World) -> None:
    for role in ("instructor", "reviewer", "student", "outsider"):
        response = client_as(world, role).get(reverse("admin:privacy_legalhold_changelist"))
        assert response.status_code == 302, role  # to the admin's sign-in


def test_lifting_a_hold_without_a_reason_is_refused_and_lifts_nothing(world: World) -> None:
    client = client_as(world, "admin")
    client.post(reverse("admin:privacy_legalhold_add"), {"session": str(world.session.pk), "reason": "Case 4"})
    hold = LegalHold.objects.get()
    response = client.post(reverse("admin:privacy_legalhold_change", args=[hold.pk]), {"lift_reason": "   "})
    assert response.status_code == 200
    assert "give the reason" in response.content.decode()
    hold.refresh_from_db()
    assert hold.lifted_at is None
    assert not AuditEvent.objects.filter(action="hold.lift").exists()
