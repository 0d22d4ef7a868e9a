"""Moments read one way on every page and in every message: weekday, day, month, year, time and zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.template import Context, Template
from django.utils import timezone

from proctor.moments import day_text, moment_text

INSTANT = datetime(2026, 9, 30, 23, 30, 5, tzinfo=UTC)


def test_a_moment_reads_with_its_day_and_its_zone() -> None:
    assert moment_text(INSTANT) == "Wed 30 Sep 2026, 23:30 UTC"
    assert moment_text(INSTANT, seconds=True) == "Wed 30 Sep 2026, 23:30:05 UTC"


def test_a_moment_is_shown_in_the_current_zone_with_that_zones_name_and_date() -> None:
    with timezone.override("Europe/Berlin"):
        assert moment_text(INSTANT) == "Thu 1 Oct 2026, 01:30 CEST"
        assert day_text(INSTANT) == "Thu 1 Oct 2026"
    assert day_text(date(2026, 10, 1)) == "Thu 1 Oct 2026"


def test_the_filters_write_a_machine_readable_time_and_nothing_for_no_value() -> None:
    template = Template(
        '{% load moments %}{{ at|moment }}|{{ at|moment:"seconds" }}|{{ on|day }}|{{ none|moment|default:"Not yet" }}'
        "|{{ position|clock }}|{{ long|clock }}"
    )
    text = template.render(
        Context({"at": INSTANT, "on": date(2026, 10, 1), "none": None, "position": 130.4, "long": 3730})
    )
    assert text.split("|") == [
        '<time datetime="2026-09-30T23:30:05+00:00">Wed 30 Sep 2026, 23:30 UTC</time>',
        '<time datetime="2026-09-30T23:30:05+00:00">Wed 30 Sep 2026, 23:30:05 UTC</time>',
        '<time datetime="2026-10-01">Thu 1 Oct 2026</time>',
        "Not yet",
        "2:10",
        "1:02:10",
    ]
