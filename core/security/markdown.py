"""Markdown and plain text rendered to HTML that is safe to insert into a page.

Everything here treats its input as hostile: LLM completions and annotator text are shown to other
users, so a payload that survives rendering is stored XSS. Two independent layers stand between
the text and the page:

1. markdown-it with ``html=False``: raw HTML in the source becomes escaped text, and link
   destinations pass markdown-it's own scheme check (no ``javascript:``, ``vbscript:``, ``file:``,
   ``data:``).
2. nh3 (ammonia) with an explicit allowlist of tags, attributes and URL schemes, so a bug or a
   config change in layer 1 still cannot put a script, an event handler or a remote load on the page.

Invariant: the return value of both public functions is safe to pass to ``mark_safe``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

__all__ = ["render_markdown", "render_plain"]

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6"),
        *("strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li"),
        *("table", "thead", "tbody", "tr", "th", "td", "a", "span"),
    }
)
# Tags removed together with their content (not just unwrapped). Only reachable if layer 1 ever
# lets raw HTML through; unwrapping these would print script bodies and CSS as page text.
CLEAN_CONTENT_TAGS: frozenset[str] = frozenset(
    {"script", "style", "template", "noscript", "iframe", "object", "embed", "svg", "math", "textarea", "title"}
)
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "code": frozenset({"class"}),
}
# th/td align takes only these values; anything else drops the attribute.
ALLOWED_ATTRIBUTE_VALUES: dict[str, dict[str, frozenset[str]]] = {
    "th": {"align": frozenset({"left", "center", "right"})},
    "td": {"align": frozenset({"left", "center", "right"})},
}
ALLOWED_URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"

_CODE_LANGUAGE_CLASS = re.compile(r"language-[A-Za-z0-9_+-]+")
_TABLE_ALIGN_STYLE = re.compile(r"text-align:(left|center|right)")


def _attribute_filter(element: str, attribute: str, value: str) -> str | None:
    """Keep ``class`` on ``<code>`` only when it is one fenced-code language class."""
    if element == "code" and attribute == "class":
        return value if _CODE_LANGUAGE_CLASS.fullmatch(value) else None
    return value


_CLEANER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    clean_content_tags=CLEAN_CONTENT_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    attribute_filter=_attribute_filter,
    strip_comments=True,
    link_rel=LINK_REL,
    tag_attribute_values=ALLOWED_ATTRIBUTE_VALUES,
    url_schemes=ALLOWED_URL_SCHEMES,
    # Relative URLs have no scheme to check: "//evil.example" is protocol-relative, and a
    # percent-encoded "java%09script:" parses as a path. Only absolute http(s)/mailto links survive.
    url_relative="deny",
)


def _render_image_as_alt_text(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # No remote loads from untrusted text (tracking pixels, internal URLs): an image is its alt text.
    # renderInlineAsText returns raw text (the stock rule escapes it as an attribute), so escape here.
    children = tokens[idx].children
    return escapeHtml(self.renderInlineAsText(children, options, env)) if children else ""


def _table_align_style_to_attribute(state: StateCore) -> None:
    # markdown-it emits style="text-align:x" on th/td; style attributes are not allowed (nor does
    # our CSP allow inline styles), so carry the alignment in the plain align attribute instead.
    for token in state.tokens:
        if token.type not in ("th_open", "td_open"):
            continue
        style = token.attrGet("style")
        if style is None:
            continue
        del token.attrs["style"]
        match = _TABLE_ALIGN_STYLE.fullmatch(str(style))
        if match:
            token.attrSet("align", match.group(1))


def _build_markdown() -> MarkdownIt:
    # The "commonmark" preset turns raw HTML on; untrusted text must show tags as text.
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.add_render_rule("image", _render_image_as_alt_text)
    md.core.ruler.push("table_align_attribute", _table_align_style_to_attribute)
    return md


_MARKDOWN = _build_markdown()


def render_markdown(text: str) -> str:
    """Render CommonMark (plus tables and strikethrough) to sanitised HTML.

    Precondition: none; ``text`` may hold any HTML, script or malformed markdown.
    The output holds only ``ALLOWED_TAGS``, no images, and links only to http, https or mailto URLs,
    each with ``rel="noopener noreferrer nofollow"``.
    """
    return _CLEANER.clean(_MARKDOWN.render(text))


def render_plain(text: str) -> str:
    """Escape ``text`` for HTML and turn each line break into ``<br>``; no markdown is interpreted."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "<br>".join(html.escape(line, quote=True) for line in lines)
