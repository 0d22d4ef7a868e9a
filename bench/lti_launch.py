"""What a launch from an LMS costs Invigil: the CPU time and database queries of one OIDC login and one
resource-link launch (state, signature against the LMS's key set, nonce, provisioning, sign-in), as when
a class opens an exam from the LMS at the same minute, against a baseline measured in the same run (the
lobby the launch leads to, opened by a student already signed in); and of one `lti.keys.sign` (the deep-linking
response, later LtiStartAssessment), which unseals the private key each time.

The LMS's key set is served from loopback and cached after the first launch, as in production. Each
launch is a new student of the same course (an account, a role and an identity are made), the costly
case; a returning student's launch writes less.

Run: .venv/bin/python bench/lti_launch.py [--launches 200]
Uses the test settings and an embedded database made for the run; set BENCH_DATABASE_URL to a
PostgreSQL URL to run it there instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
if os.environ.get("BENCH_DATABASE_URL"):
    os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
else:
    os.environ.pop("DATABASE_URL", None)

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launches", type=int, default=200)
    args = parser.parse_args()
    setup_test_environment()
    connection.creation.create_test_db(verbosity=0)
    try:
        run(args.launches)
    finally:
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


def run(launches: int) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from lti.keys import sign
    from tests.factories import ExamFactory
    from tests.lti.conftest import CLIENT_ID, ISSUER, key_set_served

    exam = ExamFactory(title="Midterm")
    lms_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with key_set_served(lms_key) as server:
        measure(launches, exam, lms_key, server.url)

    signs = 200
    started = time.process_time()
    for _ in range(signs):
        sign({"aud": ISSUER, "iss": CLIENT_ID})
    print(f"sign(): {(time.process_time() - started) / signs * 1000:.2f} ms CPU each")


def measure(launches: int, exam: Any, lms_key: Any, keyset_url: str) -> None:
    from lti.models import Deployment, LtiContext, Platform
    from tests.lti.conftest import CLIENT_ID, DEPLOYMENT, ISSUER, Lms, exam_link

    platform = Platform.objects.create(
        name="LMS",
        institution=exam.course.institution,
        issuer=ISSUER,
        client_id=CLIENT_ID,
        auth_login_url=f"{ISSUER}/auth",
        auth_token_url=f"{ISSUER}/token",
        keyset_url=keyset_url,
    )
    Deployment.objects.create(platform=platform, deployment_id=DEPLOYMENT)
    LtiContext.objects.create(platform=platform, context_id="ctx-1", course=exam.course)
    Lms(lms_key, Client()).launch(sub="warm-up", **exam_link(exam.pk))  # fetches and caches the key set

    login_cpu, launch_cpu, queries = 0.0, 0.0, 0
    for number in range(launches):
        lms = Lms(lms_key, Client())
        with CaptureQueriesContext(connection) as captured:
            started = time.process_time()
            login = lms.login()
            login_cpu += time.process_time() - started
            # The LMS's work (signing the id_token) is not Invigil's: left out of the time.
            token = lms.id_token(lms.claims(login.nonce, sub=f"student-{number}", **exam_link(exam.pk)))
            started = time.process_time()
            response = lms.client.post("/lti/launch/", {"id_token": token, "state": login.state})
            launch_cpu += time.process_time() - started
        assert response.status_code == 302, response.content[:300]
        queries += len(captured)
        lobby = response["Location"]
    # The baseline, in the same run: the page the launch leads to, opened by a student already signed in.
    page_cpu = 0.0
    student = Client()
    student.force_login(exam.course.memberships.filter(role="student").first().user)
    for _ in range(launches):
        started = time.process_time()
        assert student.get(lobby).status_code == 200
        page_cpu += time.process_time() - started
    login_ms, launch_ms, page_ms = (cpu / launches * 1000 for cpu in (login_cpu, launch_cpu, page_cpu))
    print(
        f"{launches} first launches, each: login {login_ms:.1f} ms CPU, launch {launch_ms:.1f} ms CPU, "
        f"{queries / launches:.0f} queries in all (test client included)"
    )
    print(
        f"baseline, the exam's lobby for a signed-in student: {page_ms:.1f} ms CPU; login and launch together "
        f"cost {(login_ms + launch_ms) / page_ms:.1f}x that page"
    )


if __name__ == "__main__":
    main()
