"""Template filters that render untrusted text: ``{% load safe_markdown %}``.

``{{ completion.text|markdown }}`` renders sanitised markdown; ``{{ comment|plaintext }}`` escapes and
keeps line breaks. Both return safe strings, so never chain them after ``|safe`` expecting more
escaping, and never mark untrusted text safe any other way.
"""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from core.security.markdown import render_markdown, render_plain

register = template.Library()


def _as_text(value: object) -> str:
    # Templates pass whatever the context holds: a missing value renders as nothing, not "None".
    return "" if value is None else str(value)


@register.filter(name="markdown")
def markdown_filter(value: object) -> SafeString:
    # Safe: render_markdown sanitises its output with an allowlist (core/security/markdown.py).
    return mark_safe(render_markdown(_as_text(value)))  # noqa: S308  # nosec


@register.filter(name="plaintext")
def plaintext_filter(value: object) -> SafeString:
    # Safe: render_plain HTML-escapes every character it emits except the <br> it adds.
    return mark_safe(render_plain(_as_text(value)))  # noqa: S308  # nosec
