from __future__ import annotations

from django.urls import path

from review.consumers import ExamReviewFeedConsumer

websocket_urlpatterns = [
    # django-stubs types path() for views only; Channels routes ASGI apps through it by design.
    path("ws/review/exams/<int:exam_id>/", ExamReviewFeedConsumer.as_asgi()),  # type: ignore[arg-type]
]
