"""axe-core in the page under test: the WCAG 2.1 A and AA rules, as an outside audit runs them.

The axe-core that axe-playwright-python bundles is evaluated into the page by Playwright (not a
<script> tag, so the app's Content-Security-Policy stays as it is). A screen passes when no rule of
impact serious or critical finds a node; moderate and minor findings are listed, not failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}

_axe = Axe()


def violations(page: Page) -> list[dict]:
    page.wait_for_load_state("load")
    options = {"runOnly": {"type": "tag", "values": WCAG_21_AA}, "resultTypes": ["violations"]}
    return _axe.run(page, options=options).response["violations"]


def describe(found: list[dict]) -> str:
    lines = []
    for violation in found:
        lines.append(f"  {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:5]:
            lines.append(f"      {', '.join(map(str, node['target']))}: {node['failureSummary'][:300]}")
    return "\n".join(lines)


@dataclass
class Audit:
    """Screens audited in one test; every blocking finding is reported together at the end."""

    width: int
    failures: list[str] = field(default_factory=list)
    audited: list[str] = field(default_factory=list)

    def check(self, page: Page, screen: str) -> None:
        blocking = [v for v in violations(page) if v["impact"] in BLOCKING]
        self.audited.append(screen)
        if blocking:
            self.failures.append(f"{screen} at {self.width} px ({page.url}):\n{describe(blocking)}")

    def assert_clean(self) -> None:
        assert not self.failures, "axe-core (WCAG 2.1 A/AA) found serious or critical violations:\n" + (
            "\n".join(self.failures)
        )
