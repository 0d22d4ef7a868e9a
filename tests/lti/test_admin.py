"""Registering an LMS lets it make accounts and courses: only admins (superusers) do it, and every view
and change is audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission

from lti.models import Platform
from proctor.models import AuditEvent
from tests.conftest import World, client_as

pytestmark = pytest.mark.django_db

PLATFORM_FORM = {
    "name": "Canvas",
    "issuer": "https://canvas.instructure.com",
    "client_id": "10000000000001",
    "auth_login_url": "https://sso.canvaslms.com/api/lti/authorize_redirect",
    "auth_token_url": "https://sso.canvaslms.com/login/oauth2/token",
    "keyset_url": "https://sso.canvaslms.com/api/lti/security/jwks",
    "token_audience": "",
    "active": "on",
    "assessment_display": "window",
    "deployments-TOTAL_FORMS": "1",
    "deployments-INITIAL_FORMS": "0",
    "deployments-0-deployment_id": "1:abc",
}


def test_an_admin_registers_a_platform_with_a_deployment_and_it_is_audited(world: World) -> None:
    client = client_as(world, "admin")
    assert client.get("/admin/lti/platform/").status_code == 200
    response = client.post("/admin/lti/platform/add/", {**PLATFORM_FORM, "institution": world.course.institution.pk})
    assert response.status_code == 302, response.content[:500]
    platform = Platform.objects.get(issuer="https://canvas.instructure.com")
    assert list(platform.deployments.values_list("deployment_id", flat=True)) == ["1:abc"]
    added = AuditEvent.objects.get(action="admin.add", target_type="lti.platform")
    assert added.detail["values"]["issuer"]["to"] == "https://canvas.instructure.com"
    assert AuditEvent.objects.filter(action="admin.inline_save", target_type="lti.deployment").exists()


@pytest.mark.parametrize("role", ["instructor", "reviewer", "student", "outsider"])
def test_staff_accounts_that_are_not_admins_cannot_see_or_register_platforms(
    world: World, platform: Any, role: str
) -> None:
    user = world.users[role]
    user.is_staff = True
    user.save()
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="lti"))
    client = client_as(world, role)
    assert client.get("/admin/lti/platform/").status_code == 403
    assert client.get(f"/admin/lti/platform/{platform.pk}/change/").status_code == 403
    response = client.post("/admin/lti/platform/add/", {**PLATFORM_FORM, "institution": world.course.institution.pk})
    assert response.status_code == 403
    assert Platform.objects.count() == 1
