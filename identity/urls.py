from __future__ import annotations

from django.urls import path

from identity import api

urlpatterns = [
    path("api/identity/", api.IdentityStatusView.as_view(), name="api_identity_status"),
    path("api/identity/enrol/", api.EnrolView.as_view(), name="api_identity_enrol"),
    path("api/identity/id-photo/", api.IdPhotoView.as_view(), name="api_identity_id_photo"),
    path("api/identity/verify/", api.VerifyView.as_view(), name="api_identity_verify"),
    path("api/identity/manual-check/", api.ManualCheckView.as_view(), name="api_identity_manual"),
]
