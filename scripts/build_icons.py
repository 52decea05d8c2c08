"""Build webapp/static/icons/sprite.svg: the Lucide icons Parley uses, as <symbol>s, plus its logo.

Only the icons named below go in (a small sprite, not the whole library). To add one:
    npm pack lucide-static@1.62.0 && tar xzf lucide-static-1.62.0.tgz
    python scripts/build_icons.py package/icons
then use it as {{ icon("name") }} in a template (templates/_icons.html).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ICONS = [
    "arrow-left", "ban", "book-open", "bot", "building-2", "chart-column", "chevron-down", "circle-alert",
    "circle-check", "clock", "inbox", "info", "key-round", "layout-dashboard", "log-out", "megaphone",
    "menu", "message-square", "phone", "scale", "scroll-text", "search", "send", "settings",
    "square-pen", "user-round", "users", "webhook", "x",
]  # fmt: skip
# Parley's mark: a speech bubble with two lines of text, in the brand colour (its own fill).
LOGO = (
    '<symbol id="logo" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="#1d4ed8" stroke="none"/>'
    '<path d="M9 9.5h14a2.5 2.5 0 0 1 2.5 2.5v7a2.5 2.5 0 0 1-2.5 2.5h-7.2L11 25v-3.5H9A2.5 2.5 0 0 1 '
    '6.5 19v-7A2.5 2.5 0 0 1 9 9.5z" fill="#fff" stroke="none"/>'
    '<path d="M11 14h10M11 17.5h6" stroke="#1d4ed8" stroke-width="1.8" stroke-linecap="round"/></symbol>'
)
OUT = Path(__file__).resolve().parents[1] / "webapp" / "static" / "icons" / "sprite.svg"


def symbol(name: str, source: Path) -> str:
    svg = (source / f"{name}.svg").read_text()
    body = re.search(r"<svg[^>]*>(.*)</svg>", svg, re.S)[1]
    body = re.sub(r"\s*\n\s*", "", re.sub(r"<!--.*?-->", "", body, flags=re.S))
    return f'<symbol id="{name}" viewBox="0 0 24 24">{body}</symbol>'


def main(source: Path) -> None:
    symbols = "".join(symbol(name, source) for name in ICONS)
    OUT.write_text(
        "<!-- Lucide icons (ISC licence, LICENSE-lucide beside this file) and Parley's logo. "
        "Built by scripts/build_icons.py -->\n"
        '<svg xmlns="http://www.w3.org/2000/svg" fill="none" stroke="currentColor" stroke-width="2" '
        f'stroke-linecap="round" stroke-linejoin="round">{LOGO}{symbols}</svg>\n'
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
