"""Accessibility checks the journeys run on the pages they visit.

``assert_accessible`` runs axe-core (bundled by the ``axe-playwright-python`` package, injected over
the DevTools protocol, so it needs no network and no CSP exception) with the WCAG 2.x A and AA rules:
labels on inputs, contrast of text, names of buttons and links, landmarks, ARIA use.
``tab_order`` presses Tab and reads where the focus went, for the focus-order check, which axe cannot
make: whether keyboard focus follows the order in which the page is read.
"""

from __future__ import annotations

import itertools

from axe_playwright_python.sync_playwright import Axe

WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

_axe = Axe()


def axe_violations(page, context: str | None = None) -> list[str]:
    options = {"runOnly": {"type": "tag", "values": WCAG_AA}, "resultTypes": ["violations"]}
    results = _axe.run(page, context=context, options=options)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
        for v in results.response["violations"]
    ]


def assert_accessible(page, context: str | None = None) -> None:
    violations = axe_violations(page, context)
    assert violations == [], f"axe-core on {page.url}:\n" + "\n".join(violations)


# Where the focus is: a short name, and the element's box (for "is this after that on the page").
# Each element reached is marked, so the walk stops when Tab wraps round to the start.
_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const again = el.dataset.tabSeen === "1";
  el.dataset.tabSeen = "1";
  const box = el.getBoundingClientRect();
  const label = el.labels && el.labels[0] ? el.labels[0].innerText : "";
  const name = el.getAttribute("aria-label") || label || el.innerText || el.value || el.name || el.id || el.tagName;
  return {tag: el.tagName.toLowerCase(), name: name.trim().replace(/\\s+/g, " ").slice(0, 60), again,
          top: box.top + window.scrollY, left: box.left + window.scrollX, height: box.height,
          visible: box.width > 0 && box.height > 0};
}"""

_FIRST = "a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex='0']"


def tab_order(page, limit: int = 60) -> list[dict]:
    """Focus the page's first focusable element, then press Tab until the focus comes round again."""
    page.evaluate("() => document.querySelectorAll('[data-tab-seen]').forEach((el) => delete el.dataset.tabSeen)")
    page.locator(_FIRST).first.focus()
    seen = [page.evaluate(_FOCUSED)]
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(_FOCUSED)
        if focused is None or focused["again"]:
            break
        seen.append(focused)
    page.evaluate("() => document.querySelectorAll('[data-tab-seen]').forEach((el) => delete el.dataset.tabSeen)")
    return seen


def assert_focus_follows_reading_order(stops: list[dict]) -> None:
    """Each focus stop is visible and after the previous one in reading order: further down, or to
    the right (the next cell of a row, the next column of a grid). Up and to the left is a jump back."""
    assert stops, "Tab reached nothing"
    for before, after in itertools.pairwise(stops):
        assert after["visible"], f"focus went to an invisible element: {after}"
        same_row = abs(after["top"] - before["top"]) < max(before["height"], after["height"]) / 2
        down = after["top"] > before["top"] and not same_row
        right = after["left"] > before["left"]
        assert down or right, f"focus jumped back: {before['name']!r} then {after['name']!r}"
