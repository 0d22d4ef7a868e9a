"""LTI 1.3 records: the platforms (LMSs) Invigil trusts, its own signing keys, the short-lived state of a
login, and the links from an LMS's users, courses and links to Invigil's."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AssessmentDisplay(models.TextChoices):
    """Where a proctored assessment of the LMS is shown while Invigil records (lti.proctoring)."""

    FRAME = "frame", "In a frame of Invigil's exam page"
    WINDOW = "window", "In a window of its own beside the exam page"


class Platform(models.Model):
    """An LMS registered by an admin: who it is (issuer, client id) and where its login, token and key-set
    endpoints are. Launches from anything else are refused."""

    name = models.CharField(max_length=200)
    institution = models.ForeignKey("exams.Institution", on_delete=models.PROTECT, related_name="lti_platforms")
    issuer = models.CharField(max_length=255, help_text="The LMS's issuer (iss), e.g. https://moodle.example.edu")
    client_id = models.CharField(max_length=255, help_text="The client id the LMS gave Invigil.")
    auth_login_url = models.URLField(max_length=500, help_text="The LMS's OIDC authorisation endpoint.")
    auth_token_url = models.URLField(max_length=500, help_text="The LMS's OAuth 2 token endpoint.")
    keyset_url = models.URLField(max_length=500, help_text="Where the LMS publishes its public keys (JWKS).")
    token_audience = models.CharField(
        max_length=500,
        blank=True,
        help_text="The audience of Invigil's client assertions at the token endpoint, if the LMS wants one other "
        "than the token URL.",
    )
    active = models.BooleanField(default=True, help_text="Launches from an inactive platform are refused.")
    assessment_display = models.CharField(
        max_length=10,
        choices=AssessmentDisplay.choices,
        default=AssessmentDisplay.FRAME,
        help_text="How its proctored assessments are shown: a window of its own for an LMS whose pages refuse to "
        "be framed, or whose sign-in cookie is not sent to a frame on another site.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["issuer", "client_id"], name="lti_platform_unique")]

    def __str__(self) -> str:
        return self.name


class Deployment(models.Model):
    """One installation of Invigil in the platform (a deployment id); launches name theirs."""

    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="deployments")
    deployment_id = models.CharField(max_length=255)

    class Meta:
        ordering = ["platform", "deployment_id"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "deployment_id"], name="lti_deployment_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.platform} deployment {self.deployment_id}"


class ToolKey(models.Model):
    """One of Invigil's own RSA signing keys. The private key is stored only sealed under its data key
    (proctor.keys); the public half is published at /lti/jwks/. The newest unretired key signs; a retired
    key stays published for a grace period so tokens it signed still verify, then it is deleted."""

    kid = models.CharField(max_length=64, unique=True, editable=False)
    data_key = models.OneToOneField("proctor.DataKey", on_delete=models.PROTECT, related_name="+", editable=False)
    private_key_sealed = models.BinaryField(editable=False)
    public_jwk = models.JSONField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"LTI key {self.kid}" + (" (retired)" if self.retired_at else "")

    @property
    def label(self) -> bytes:
        """Associated data that binds the sealed private key to this key id."""
        return f"lti-tool-key:{self.kid}".encode()


class LoginState(models.Model):
    """The server side of one OIDC login: the state and nonce sent to the platform, bound to the browser
    that started it (a hash of a cookie's value). Used once, expires within minutes, then purged."""

    state = models.CharField(max_length=64, unique=True)
    nonce = models.CharField(max_length=64)
    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="+")
    browser_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"LTI login {self.state[:8]}…"


class UsedNonce(models.Model):
    """A nonce of an id_token already accepted, so a replayed token is refused; purged once the token
    could no longer be valid anyway."""

    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["platform", "nonce"], name="lti_nonce_unique")]

    def __str__(self) -> str:
        return f"nonce {self.nonce[:8]}…"


class LtiIdentity(models.Model):
    """Which Invigil account an LMS user (the platform's opaque ``sub``) is.

    Personal data: the LMS's identifier of the person, linked to their account. Deleted with the account.
    """

    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, related_name="identities")
    sub = models.CharField(max_length=255)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lti_identities")
    created_at = models.DateTimeField(auto_now_add=True)
    last_launch_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["platform", "sub"], name="lti_identity_unique")]

    def __str__(self) -> str:
        return f"{self.user} at {self.platform}"


class LtiContext(models.Model):
    """Which Invigil course an LMS course (context) is."""

    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, related_name="contexts")
    context_id = models.CharField(max_length=255)
    course = models.ForeignKey("exams.Course", on_delete=models.CASCADE, related_name="lti_contexts")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["platform", "context_id"], name="lti_context_unique")]

    def __str__(self) -> str:
        return f"{self.course} at {self.platform}"


class ResourceLink(models.Model):
    """An LMS item (resource link) that launches one Invigil exam, within the course it was placed in; a
    launch of it from any other course is refused."""

    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, related_name="resource_links")
    resource_link_id = models.CharField(max_length=255)
    context = models.ForeignKey(LtiContext, on_delete=models.CASCADE, related_name="resource_links")
    exam = models.ForeignKey("exams.Exam", on_delete=models.CASCADE, related_name="lti_resource_links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "resource_link_id"], name="lti_resource_link_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.exam} via {self.platform} link {self.resource_link_id}"


class ProctoringAttempt(models.Model):
    """One attempt at an assessment of the LMS, proctored through IMS LTI Proctoring Services: the LMS's
    LtiStartProctoring as Invigil must echo it in LtiStartAssessment, and what the LMS offered for
    controlling the attempt. One per exam session.

    Personal data: the LMS's identifier of the student (``sub``) and its opaque session data; kept with the
    session record.
    """

    session = models.OneToOneField("exams.ExamSession", on_delete=models.CASCADE, related_name="lti_attempt")
    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, related_name="proctoring_attempts")
    deployment_id = models.CharField(max_length=255)
    resource_link_id = models.CharField(max_length=255)
    sub = models.CharField(max_length=255, help_text="The LMS's identifier of the student.")
    attempt_number = models.PositiveIntegerField()
    session_data = models.TextField(help_text="Opaque to Invigil; echoed exactly in LtiStartAssessment.")
    start_assessment_url = models.URLField(max_length=1000)
    acs_url = models.URLField(max_length=1000, blank=True, help_text="The Assessment Control Service, if offered.")
    acs_actions = models.JSONField(default=list, blank=True, help_text="The actions the LMS accepts for it.")
    return_url = models.URLField(max_length=1000, blank=True, help_text="Where the LMS asks the student be sent back.")
    display = models.CharField(max_length=10, choices=AssessmentDisplay.choices, default=AssessmentDisplay.FRAME)
    started_at = models.DateTimeField(auto_now_add=True)
    assessment_sent_at = models.DateTimeField(null=True, blank=True, help_text="Last LtiStartAssessment sent.")
    ended_by_lms_at = models.DateTimeField(null=True, blank=True, help_text="When LtiEndAssessment arrived.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "resource_link_id", "sub", "attempt_number"], name="lti_attempt_unique"
            )
        ]

    def __str__(self) -> str:
        return f"attempt {self.attempt_number} of {self.resource_link_id} on {self.platform}"


class ControlAction(models.TextChoices):
    """The Assessment Control Service's actions that a person at Invigil can take."""

    FLAG = "flag", "Flag the attempt"
    PAUSE = "pause", "Pause the attempt"
    RESUME = "resume", "Resume the attempt"
    TERMINATE = "terminate", "End the attempt"


class ControlOutcome(models.TextChoices):
    ACCEPTED = "accepted", "Accepted by the LMS"
    REFUSED = "refused", "Refused by the LMS"
    FAILED = "failed", "Not delivered"


class ControlRequest(models.Model):
    """An Assessment Control request a person sent to the LMS about an attempt, and what came of it. Never a
    machine's: every request names the person who sent it and why.

    Personal data: who asked, about which student's attempt, and their reason; kept with the session record.
    """

    attempt = models.ForeignKey(ProctoringAttempt, on_delete=models.CASCADE, related_name="control_requests")
    action = models.CharField(max_length=20, choices=ControlAction.choices)
    reason = models.TextField(help_text="Why, in words the LMS shows its staff.")
    incident_time = models.DateTimeField()
    severity = models.FloatField(null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=10, choices=ControlOutcome.choices)
    lms_status = models.CharField(max_length=60, blank=True, help_text="The attempt's status as the LMS answered.")
    problem = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"{self.action} of {self.attempt} ({self.outcome})"
