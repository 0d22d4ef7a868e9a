from __future__ import annotations

from django.urls import path

from identity import api

urlpatterns = [
    path("api/identity/", api.identity_status, name="api_identity_status"),
    path("api/identity/face-matching/", api.face_matching_answer, name="api_identity_face_matching"),
    path("api/identity/enrol/", api.enrol, name="api_identity_enrol"),
    path("api/identity/id-photo/", api.id_photo, name="api_identity_id_photo"),
    path("api/identity/verify/", api.verify, name="api_identity_verify"),
    path("api/identity/manual-check/", api.manual_check, name="api_identity_manual"),
]
