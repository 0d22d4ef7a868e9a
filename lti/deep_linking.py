"""Deep Linking 2.0: the instructor's choice of an Invigil exam for an LMS item, and the signed response
that attaches it.

LMSs show content selection inside a frame of their own page (Moodle's dialog, Canvas's modal), where
the browser does not send Invigil's SameSite=Lax session and CSRF cookies. So the pending request travels
in the page itself, signed by Invigil and bound to the instructor and a deadline: it authenticates the
choice in place of the session and the CSRF token.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from django.core import signing

from exams.models import Exam
from lti.errors import LaunchInvalid
from lti.keys import sign
from lti.launch import DEPLOYMENT_ID, DL_CLAIM, LTI_VERSION, MESSAGE_TYPE, VERSION
from lti.models import Platform
from lti.provisioning import EXAM_PARAMETER

#: How long the LMS has to receive the response.
RESPONSE_LIFETIME_SECONDS = 300
#: How long an instructor may take to choose.
CHOICE_LIFETIME_SECONDS = 1800
_SALT = "lti.deep_linking.pending"


@dataclass(frozen=True)
class PendingChoice:
    """A deep-linking request waiting for the instructor's choice."""

    platform: int
    deployment_id: str
    course: int
    user: int
    return_url: str
    data: Any = None

    def dumps(self) -> str:
        return signing.dumps(asdict(self), salt=_SALT, compress=True)

    @classmethod
    def loads(cls, value: str) -> PendingChoice:
        """The choice a page carried; LaunchInvalid when altered or older than CHOICE_LIFETIME_SECONDS."""
        try:
            return cls(**signing.loads(value, salt=_SALT, max_age=CHOICE_LIFETIME_SECONDS))
        except signing.SignatureExpired:
            raise LaunchInvalid(
                "This choice took too long. Start again from the LMS.", reason="deep_link_expired"
            ) from None
        except (signing.BadSignature, TypeError, ValueError):
            raise LaunchInvalid(
                "This choice was not made on Invigil's page. Start again from the LMS.", reason="deep_link_altered"
            ) from None


def deep_linking_response(*, platform: Platform, deployment_id: str, data: Any, exam: Exam, launch_url: str) -> str:
    """The LtiDeepLinkingResponse JWT: one LTI resource link whose custom parameter names the exam; the
    request's ``data`` echoed as the spec requires."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": platform.client_id,
        "aud": platform.issuer,
        "iat": now,
        "exp": now + RESPONSE_LIFETIME_SECONDS,
        "nonce": secrets.token_urlsafe(16),
        DEPLOYMENT_ID: deployment_id,
        MESSAGE_TYPE: "LtiDeepLinkingResponse",
        VERSION: LTI_VERSION,
        DL_CLAIM + "content_items": [
            {
                "type": "ltiResourceLink",
                "title": exam.title,
                "url": launch_url,
                "custom": {EXAM_PARAMETER: str(exam.pk)},
            }
        ],
        DL_CLAIM + "msg": f"Attached the Invigil exam “{exam.title}”.",
    }
    if data is not None:
        claims[DL_CLAIM + "data"] = data
    return sign(claims)
