"""The direction of dependencies between apps is part of the design, so a wrong-way import fails CI.

privacy -> review -> analysis -> recordings, identity, exams -> proctor; proctor imports no app;
identity knows nothing of exams. Groups of session statuses are named once, in exams/lifecycle.py:
a literal set of statuses anywhere else (Python, templates, scripts) fails too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from exams.models import SessionStatus

ROOT = Path(__file__).resolve().parent.parent
APPS = ("proctor", "identity", "exams", "recordings", "analysis", "review", "privacy", "lockdown", "lti")
ALLOWED: dict[str, set[str]] = {
    "proctor": set(),
    "identity": {"proctor"},
    "exams": {"proctor"},
    "recordings": {"proctor", "exams", "identity"},
    "analysis": {"proctor", "exams", "identity", "recordings"},
    "review": {"proctor", "exams", "identity", "recordings", "analysis"},
    "privacy": {"proctor", "exams", "identity", "recordings", "analysis", "review"},
    # Safe Exam Browser: which exams require it; its checks run at the edge (middleware, socket guard).
    "lockdown": {"proctor", "exams", "identity", "recordings", "analysis", "review", "privacy"},
    # The LMS integration builds on everything: it provisions courses and people and runs attempts.
    "lti": {"proctor", "exams", "identity", "recordings", "analysis", "review", "privacy", "lockdown"},
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


# --- Groups of session statuses are named once ---------------------------------------------------------

STATUS_VALUES = frozenset(SessionStatus.values)
STATUS_NAMES = frozenset(SessionStatus.names)
#: The one module that may spell out a group of statuses.
LIFECYCLE = ROOT / "exams" / "lifecycle.py"
DISPLAYS = (ast.Set, ast.Tuple, ast.List)


def _is_status_member(node: ast.expr) -> bool:
    """``SessionStatus.STARTED`` or ``S.STARTED`` (however the enum was imported)."""
    return isinstance(node, ast.Attribute) and node.attr in STATUS_NAMES and isinstance(node.value, ast.Name)


def _status_set_problem(node: ast.expr, *, combined: bool) -> bool:
    """Whether a set, tuple or list display spells out a group of statuses: two or more statuses, or
    one added to another group (``{*ENDED, S.ANALYSING}``, ``GROUP | {S.X}``), or only status strings."""
    assert isinstance(node, DISPLAYS)
    members = sum(_is_status_member(element) for element in node.elts)
    strings = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    status_strings = sum(value in STATUS_VALUES for value in strings)
    if members + status_strings >= 2 and (members or len(node.elts) == status_strings):
        return True
    grows_a_group = combined or any(isinstance(element, ast.Starred) for element in node.elts)
    return grows_a_group and members + status_strings >= 1


def status_sets(path: Path) -> list[int]:
    """Line numbers of the literal groups of session statuses in a Python module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    combined = {
        id(side)
        for node in ast.walk(tree)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr | ast.BitAnd | ast.Sub)
        for side in (node.left, node.right)
    }
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, DISPLAYS) and _status_set_problem(node, combined=id(node) in combined)
    )


QUOTED = re.compile(r"""["']([a-z_]+)["']""")
TEMPLATE_CONDITION = re.compile(r"{%-?\s*(?:el)?if\b(.*?)-?%}", re.DOTALL)
SCRIPT_STATEMENT = re.compile(r"[^;{}]+")


def _statuses_named(text: str) -> set[str]:
    return {word for word in QUOTED.findall(text) if word in STATUS_VALUES}


def template_status_sets(path: Path) -> list[str]:
    """Conditions in a template that test a status against two or more spelled-out statuses."""
    return [
        match.group(0)
        for match in TEMPLATE_CONDITION.finditer(path.read_text())
        if len(_statuses_named(match.group(1))) >= 2
    ]


def script_status_sets(path: Path) -> list[str]:
    """Statements of a script that spell out two or more statuses (an array, or a chain of tests)."""
    return [
        statement.strip()
        for statement in SCRIPT_STATEMENT.findall(path.read_text())
        if len(_statuses_named(statement)) >= 2
    ]


def test_groups_of_session_statuses_are_named_only_in_the_lifecycle() -> None:
    found = {
        f"{path.relative_to(ROOT)}:{line}": "literal group of statuses"
        for app in APPS
        for path in sources(app)
        if path != LIFECYCLE
        for line in status_sets(path)
    }
    assert found == {}, "Name the group in exams/lifecycle.py and use it."


def test_templates_use_the_named_groups_of_statuses() -> None:
    found = {
        str(path.relative_to(ROOT)): conditions
        for path in (ROOT / "templates").rglob("*.html")
        if (conditions := template_status_sets(path))
    }
    assert found == {}, "Test against a group: {% if session.status in statuses.TO_REVIEW %}."


def test_scripts_read_the_groups_of_statuses_from_the_server() -> None:
    found = {
        str(path.relative_to(ROOT)): statements
        for path in (ROOT / "static").rglob("*.js")
        if (statements := script_status_sets(path))
    }
    assert found == {}, 'Read the group from the "session-statuses" JSON of the base template.'


@pytest.mark.parametrize(
    "source",
    [
        "from exams.models import SessionStatus as S\nDONE = frozenset({S.CLEARED, S.CONCERN_CONFIRMED})\n",
        "from exams.models import SessionStatus as St\nok = status in (St.APPEALED, St.SECOND_REVIEW)\n",
        "q = Q(status__in=['ready_for_review', 'appealed'])\n",
        "from exams.models import SessionStatus as S\nMORE = {*ENDED, S.ANALYSING}\n",
        "from exams.models import SessionStatus as S\nMORE = UNDER_REVIEW | {S.ANALYSIS_FAILED}\n",
    ],
)
def test_the_checker_sees_a_literal_group_of_statuses(tmp_path: Path, source: str) -> None:
    module = tmp_path / "bad.py"
    module.write_text(source)
    assert status_sets(module) == [len(source.splitlines())]


def test_the_checker_leaves_single_statuses_and_other_lists_alone(tmp_path: Path) -> None:
    module = tmp_path / "good.py"
    module.write_text(
        "from exams.models import SessionStatus as S\n"
        "SECOND = frozenset({S.SECOND_REVIEW})\n"
        "list_display = ['title', 'consented', 'declined']\n"
        "ok = status in TO_REVIEW | COMPLETED\n"
    )
    assert status_sets(module) == []


def test_the_checker_sees_a_literal_group_in_a_template_and_a_script(tmp_path: Path) -> None:
    template = tmp_path / "bad.html"
    template.write_text('{% if s == "cleared" %}ok{% elif s == \'started\' or s == "analysing" %}busy{% endif %}')
    script = tmp_path / "bad.js"
    script.write_text('if (config.status === "started") go();\nif (["submitted", "timed_out"].includes(s)) end();\n')
    assert template_status_sets(template) == ["{% elif s == 'started' or s == \"analysing\" %}"]
    assert script_status_sets(script) == ['if (["submitted", "timed_out"].includes(s)) end()']


# --- Audit actions are members of one enumeration ------------------------------------------------------


def free_audit_actions(path: Path) -> list[int]:
    """Lines where ``audit_record`` is given its action as a string rather than an AuditAction member."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "audit_record"
        for keyword in node.keywords
        if keyword.arg == "action" and isinstance(keyword.value, ast.Constant | ast.JoinedStr)
    )


def test_audit_actions_are_members_of_the_enumeration() -> None:
    found = {
        f"{path.relative_to(ROOT)}:{line}": "audit action given as a string"
        for app in APPS
        for path in sources(app)
        for line in free_audit_actions(path)
    }
    assert found == {}, "Add the action to proctor/audit_actions.py and pass the member."


def test_the_checker_sees_an_audit_action_given_as_a_string(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "audit_record(actor=None, action=AuditAction.LOGIN)\n"
        "audit.audit_record(actor=None, action='auth.login')\n"
        "audit_record(actor=None, action=f'admin.{verb}')\n"
    )
    assert free_audit_actions(module) == [2, 3]
