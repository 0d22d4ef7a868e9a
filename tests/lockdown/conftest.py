"""An exam that requires Safe Exam Browser with a real .seb file, and requests signed as SEB signs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lockdown.config_key import request_hash
from lockdown.models import SafeExamBrowserRequirement
from tests.conftest import World

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "seb"
MAC_FILE = (FIXTURES / "unencrypted_mac_001.seb").read_bytes()
#: The Config Key published for MAC_FILE (tests/fixtures/seb/README.md), never computed here.
MAC_KEY = "4fa9af8ec8759eb7c680752ef4ee5eaf1a860628608fccae2715d519849f9292"
WIN_KEY = "fc6f4ea5922717760f4d6d536c23b8d19bf20b52aa97940f5427a76e20f49026"
#: A Browser Exam Key as SEB would show it (any 64 hex characters: SEB derives it from its build).
BEK = "5d1c0c6e55b62cb8d7e4b7d5c4e6a06a7d3a3d7e2b7f1e1c7a0e6c4b3a2f1e0d"
OTHER_BEK = "0" * 64


@pytest.fixture
def seb_world(world: World) -> World:
    SafeExamBrowserRequirement.objects.create(
        exam=world.exam,
        required=True,
        config_file=MAC_FILE,
        config_file_name="midterm.seb",
        config_key=MAC_KEY,
    )
    return world


def seb_headers(url: str, *, config_key: str | None = MAC_KEY, browser_exam_key: str | None = None) -> dict[str, Any]:
    """The headers SEB adds to a request for ``url`` (absolute, as the browser asked for it)."""
    headers: dict[str, Any] = {}
    if config_key is not None:
        headers["HTTP_X_SAFEEXAMBROWSER_CONFIGKEYHASH"] = request_hash(url, config_key)
    if browser_exam_key is not None:
        headers["HTTP_X_SAFEEXAMBROWSER_REQUESTHASH"] = request_hash(url, browser_exam_key)
    return headers


def absolute(path: str) -> str:
    return f"http://testserver{path}"
