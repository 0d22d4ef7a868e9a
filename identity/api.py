"""JSON endpoints the exam page calls for the identity steps. Every user acts on their own profile
only, so the one rule here is: signed in. Uploads stay in memory (settings allow no temp files)."""

from __future__ import annotations

from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from identity.faces import FaceProblem
from identity.models import IdentityProfile
from identity.services import (
    identity_enrol,
    identity_request_manual_check,
    identity_store_id_photo,
    identity_verify,
)


def _problem(exc: Exception) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)


class IdentityStatusView(APIView):
    def get(self, request: Request) -> Response:
        # IsAuthenticated (the default permission) guarantees a real user here.
        profile = IdentityProfile.objects.filter(user_id=int(request.user.pk or 0)).first()
        return Response(
            {
                "enrolled": bool(profile and profile.enrolled),
                "has_id_photo": bool(profile and profile.id_photo_name),
            }
        )


class EnrolView(APIView):
    parser_classes = [MultiPartParser]

    def post(self, request: Request) -> Response:
        frames = [upload.read() for upload in request.FILES.getlist("frames")]
        try:
            identity_enrol(user=request.user, frames=frames, request=request)
        except FaceProblem as exc:
            return _problem(exc)
        return Response({"enrolled": True})


class IdPhotoView(APIView):
    parser_classes = [MultiPartParser]

    def post(self, request: Request) -> Response:
        upload = request.FILES.get("photo")
        if upload is None:
            return _problem(FaceProblem("Take a picture of your photo ID first."))
        try:
            identity_store_id_photo(user=request.user, photo=upload.read(), request=request)
        except FaceProblem as exc:
            return _problem(exc)
        return Response({"has_id_photo": True})


class ReferenceSerializer(serializers.Serializer):
    reference = serializers.CharField(max_length=64)


class VerifyView(APIView):
    parser_classes = [MultiPartParser]

    def post(self, request: Request) -> Response:
        reference = ReferenceSerializer(data=request.data)
        reference.is_valid(raise_exception=True)
        upload = request.FILES.get("frame")
        if upload is None:
            return _problem(FaceProblem("No picture was sent."))
        try:
            check, attestation = identity_verify(
                user=request.user,
                frame=upload.read(),
                reference=reference.validated_data["reference"],
                request=request,
            )
        except FaceProblem as exc:
            return _problem(exc)
        body = {"matched": check.matched, "distance": round(check.distance or 0, 3), "attestation": attestation}
        if not check.matched:
            body["detail"] = "Your face did not match the one you enrolled. Check your lighting and try again."
        return Response(body)


class ManualCheckView(APIView):
    def post(self, request: Request) -> Response:
        reference = ReferenceSerializer(data=request.data)
        reference.is_valid(raise_exception=True)
        _, attestation = identity_request_manual_check(
            user=request.user, reference=reference.validated_data["reference"], request=request
        )
        return Response({"attestation": attestation, "method": "manual_request"})
