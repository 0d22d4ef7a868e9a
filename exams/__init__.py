"""Exams, courses, memberships, accommodations and the exam-session state machine."""
