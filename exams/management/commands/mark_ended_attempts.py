"""Mark the attempts that ended before automatic marking existed (or whose marking failed): every
started attempt that is over and lacks a mark for some question it can be given automatically."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Count, F, Q

from exams.lifecycle import ATTEMPT_OVER
from exams.marking import session_mark_automatically
from exams.models import ExamSession


class Command(BaseCommand):
    help = "Mark automatically every ended attempt that has questions without a mark. Safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        unmarked = (
            ExamSession.objects.filter(status__in=ATTEMPT_OVER, started_at__isnull=False)
            .annotate(questions=Count("exam__questions", distinct=True), marked=Count("marks", distinct=True))
            .filter(~Q(marked=F("questions")))
            .values_list("pk", flat=True)
        )
        marked = 0
        for session_id in unmarked.iterator():
            marked += len(session_mark_automatically(session_id=session_id))
        self.stdout.write(f"{marked} question(s) marked automatically.")
