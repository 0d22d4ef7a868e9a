"""The accessibility check every browser test can run on the page in front of it: axe-core (bundled by
axe-playwright-python, so nothing is downloaded at test time) with the WCAG 2.1 A and AA rules."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe

WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

_AXE = Axe()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations of WCAG 2.1 A and AA on the page as it is now (hidden parts are not judged)."""
    options = {"runOnly": {"type": "tag", "values": WCAG_21_AA}, "resultTypes": ["violations"]}
    return list(_AXE.run(page, options=options).response["violations"])


def violations_described(violations: list[dict[str, Any]]) -> str:
    """One paragraph per violation: the rule, its impact, the elements that break it, and where to read more."""
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        lines.append(f"  {violation['helpUrl']}")
        for node in violation["nodes"]:
            summary = "; ".join(line.strip() for line in node.get("failureSummary", "").splitlines()[1:])
            lines.append(f"    at {' '.join(map(str, node['target']))}: {summary}")
    return "\n".join(lines)


def assert_accessible(page: Any, name: str) -> None:
    """Fail listing every WCAG 2.1 A/AA violation axe finds on ``page``, which shows ``name``."""
    violations = axe_violations(page)
    assert not violations, f"{name} ({page.url}) has {len(violations)} accessibility violation(s):\n" + (
        violations_described(violations)
    )
