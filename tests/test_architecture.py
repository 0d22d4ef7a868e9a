"""The direction of dependencies between apps is part of the design, so a wrong-way import fails CI.

privacy -> review -> analysis -> recordings, identity, exams -> proctor; proctor imports no app;
identity knows nothing of exams.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("proctor", "identity", "exams", "recordings", "analysis", "review", "privacy")
ALLOWED: dict[str, set[str]] = {
    "proctor": set(),
    "identity": {"proctor"},
    "exams": {"proctor"},
    "recordings": {"proctor", "exams", "identity"},
    "analysis": {"proctor", "exams", "identity", "recordings"},
    "review": {"proctor", "exams", "identity", "recordings", "analysis"},
    "privacy": {"proctor", "exams", "identity", "recordings", "analysis", "review"},
}


def imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(APPS)


def sources(app: str) -> list[Path]:
    return [p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]


@pytest.mark.parametrize("app", APPS)
def test_an_app_imports_only_the_apps_below_it(app: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_apps(path) - ALLOWED[app] - {app})
        for path in sources(app)
        if imported_apps(path) - ALLOWED[app] - {app}
    }
    assert wrong == {}


def test_the_checker_sees_a_wrong_way_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from exams.models import Exam\nimport review.views\n")
    assert imported_apps(module) == {"exams", "review"}
