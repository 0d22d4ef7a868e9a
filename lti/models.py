"""LTI 1.3 records: the platforms (LMSs) Invigil trusts, its own signing keys, the short-lived state of a
login, and the links from an LMS's users, courses and links to Invigil's."""

from __future__ import annotations

from django.conf import settings
from django.db import models


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
