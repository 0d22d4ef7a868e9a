"""Sign-in events go to the audit log. Django reports them only as signals, so these receivers are
the one place they are caught; they write the audit entry and, at a sign-in, note its time in the
session for identity.reauth, and change nothing else."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from identity.reauth import mark_authenticated
from proctor.audit import audit_record
from proctor.audit_actions import AuditAction


@receiver(user_logged_in, dispatch_uid="invigil-audit-login")
def audit_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    audit_record(actor=user, action=AuditAction.LOGIN, target=user, request=request)
    if request is not None and hasattr(request, "session"):
        # A sign-in is a password check: reading others' recordings needs a recent one (identity.reauth).
        mark_authenticated(request)


@receiver(user_logged_out, dispatch_uid="invigil-audit-logout")
def audit_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(actor=user, action=AuditAction.LOGOUT, target=user, request=request)


@receiver(user_login_failed, dispatch_uid="invigil-audit-login-failed")
def audit_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Django has already masked the password in `credentials`; only the username is kept.
    audit_record(
        actor=None,
        action=AuditAction.LOGIN_FAILED,
        request=request,
        detail={"username": str(credentials.get("username", ""))[:150]},
    )
