"""Daphne with cProfile in every thread (the event loop and asgiref's pool): bench/ingest.py --profile
starts Invigil through this. On exit it writes the merged profile to INGEST_PROFILE_OUT (wall time,
so time spent waiting on fsync, locks and the database shows up where it is spent)."""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import threading
from typing import Any

profiles: list[cProfile.Profile] = []


def _profile_this_thread(*_: Any) -> None:
    profile = cProfile.Profile()
    profiles.append(profile)
    profile.enable()  # replaces this hook for the thread


def main() -> None:
    threading.setprofile(_profile_this_thread)
    _profile_this_thread()
    from daphne.cli import CommandLineInterface

    try:
        CommandLineInterface.entrypoint()
    finally:
        stats = pstats.Stats(profiles[0])
        for profile in profiles[1:]:
            stats.add(profile)
        stats.dump_stats(os.environ.get("INGEST_PROFILE_OUT", "ingest.prof"))


if __name__ == "__main__":
    sys.argv[0] = "daphne"
    main()
