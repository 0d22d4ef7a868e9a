from __future__ import annotations

from django.urls import path

from exams import api, attempt_views, authoring_views, roster_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("courses/<int:course_id>/", views.course_detail, name="course_detail"),
    path("exams/<int:exam_id>/", views.exam_detail, name="exam_detail"),
    path("exams/<int:exam_id>/publishing/", views.exam_publishing, name="exam_publishing"),
    path("sessions/<uuid:session_id>/", views.session_detail, name="session_detail"),
    path(
        "alternative-requests/<int:request_id>/answer/",
        views.alternative_answer_view,
        name="alternative_answer",
    ),
    # The instructor's workspace (exams.authoring_views).
    path("courses/<int:course_id>/exams/new/", authoring_views.exam_new, name="exam_new"),
    path("exams/<int:exam_id>/setup/", authoring_views.exam_setup, name="exam_setup"),
    path("exams/<int:exam_id>/setup/settings/", authoring_views.exam_edit, name="exam_edit"),
    path("exams/<int:exam_id>/setup/duplicate/", authoring_views.exam_duplicate_view, name="exam_duplicate"),
    path("exams/<int:exam_id>/setup/publish/", authoring_views.exam_publish_view, name="exam_setup_publish"),
    path("exams/<int:exam_id>/setup/questions/new/", authoring_views.question_edit, name="question_new"),
    path("exams/<int:exam_id>/setup/questions/<int:question_id>/", authoring_views.question_edit, name="question_edit"),
    path(
        "exams/<int:exam_id>/setup/questions/<int:question_id>/delete/",
        authoring_views.question_delete_view,
        name="question_delete",
    ),
    path(
        "exams/<int:exam_id>/setup/questions/<int:question_id>/move/",
        authoring_views.question_move_view,
        name="question_move",
    ),
    path(
        "exams/<int:exam_id>/setup/consent-policy/", authoring_views.consent_policy_add_view, name="exam_consent_policy"
    ),
    path("exams/<int:exam_id>/lobby/", attempt_views.lobby, name="exam_lobby"),
    path("exams/<int:exam_id>/open/", attempt_views.open_attempt, name="exam_open"),
    path("sessions/<uuid:session_id>/consent/", attempt_views.consent, name="session_consent"),
    path("sessions/<uuid:session_id>/decline/", attempt_views.decline, name="session_decline"),
    path("sessions/<uuid:session_id>/exam/", attempt_views.exam_page, name="session_exam"),
    path("api/sessions/<uuid:session_id>/check/", api.SystemCheckView.as_view(), name="api_session_check"),
    path("api/sessions/<uuid:session_id>/probe/", api.UploadProbeView.as_view(), name="api_session_probe"),
    path("api/sessions/<uuid:session_id>/begin/", api.BeginView.as_view(), name="api_session_begin"),
    path("api/sessions/<uuid:session_id>/answers/", api.AnswerView.as_view(), name="api_session_answer"),
    path("api/sessions/<uuid:session_id>/break/", api.BreakView.as_view(), name="api_session_break"),
    path("api/sessions/<uuid:session_id>/submit/", api.SubmitView.as_view(), name="api_session_submit"),
]

# The class list and accommodations (issue 15, item 3).
urlpatterns += [
    path("courses/<int:course_id>/class-list/", roster_views.roster, name="course_roster"),
    path("courses/<int:course_id>/class-list/students/", roster_views.student_add, name="course_roster_add"),
    path("courses/<int:course_id>/class-list/import/", roster_views.class_list_import, name="course_roster_import"),
    path(
        "courses/<int:course_id>/class-list/students/<int:user_id>/remove/",
        roster_views.student_remove,
        name="course_roster_remove",
    ),
    path(
        "courses/<int:course_id>/class-list/reviewers/", roster_views.reviewer_appoint, name="course_reviewer_appoint"
    ),
    path(
        "courses/<int:course_id>/class-list/reviewers/<int:user_id>/remove/",
        roster_views.reviewer_remove,
        name="course_reviewer_remove",
    ),
    path("exams/<int:exam_id>/accommodations/", roster_views.accommodations, name="exam_accommodations"),
    path("exams/<int:exam_id>/accommodations/pick/", roster_views.accommodation_pick, name="exam_accommodation_pick"),
    path(
        "exams/<int:exam_id>/accommodations/<int:student_id>/",
        roster_views.accommodation_edit,
        name="exam_accommodation_edit",
    ),
    path(
        "exams/<int:exam_id>/accommodations/<int:student_id>/remove/",
        roster_views.accommodation_delete,
        name="exam_accommodation_remove",
    ),
]
