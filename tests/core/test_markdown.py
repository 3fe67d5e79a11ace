"""Untrusted text rendered by core.security.markdown never reaches the page as active content.

Each payload is rendered, the output parsed with html.parser, and the actual tags and attributes
inspected: a substring check alone would both miss encoded payloads and flag harmless text such as
a link title that reads "onmouseover=alert(1)".
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.template import Context, Template
from markdown_it import MarkdownIt

from core.security import markdown as markdown_module
from core.security.markdown import ALLOWED_TAGS, LINK_REL, render_markdown, render_plain

FORBIDDEN_TAGS = frozenset(
    {
        *("script", "iframe", "frame", "frameset", "img", "image", "svg", "math", "form", "input", "button"),
        *("textarea", "select", "style", "object", "embed", "applet", "base", "meta", "link", "video"),
        *("audio", "source", "track", "picture", "template", "noscript", "details", "body", "html", "isindex"),
    }
)
URL_ATTRIBUTES = frozenset(
    {"href", "src", "srcset", "action", "formaction", "data", "xlink:href", "background", "poster", "ping"}
)
SAFE_HREF_PREFIXES = ("http://", "https://", "mailto:")
BAD_SCHEMES = ("javascript:", "vbscript:", "data:")
# Browsers drop ASCII whitespace and C0 controls inside a scheme ("java\tscript:" still runs).
_URL_NOISE = re.compile(r"[\x00-\x20\x7f]+")

XSS_CORPUS: list[tuple[str, str]] = [
    # Script tags.
    ("script", "<script>alert(1)</script>"),
    ("script-upper", "<SCRIPT>alert(1)</SCRIPT>"),
    ("script-mixed-case", "<ScRiPt>alert(1)</sCrIpT>"),
    ("script-src", '<script src="https://evil.example/x.js"></script>'),
    ("script-nested", "<scr<script>ipt>alert(1)</scr</script>ipt>"),
    ("script-double-open", "<<script>script>alert(1)<</script>/script>"),
    ("script-unclosed", "<script>alert(1)"),
    ("script-broken-attr", '<script/x="y">alert(1)</script>'),
    ("script-in-heading", "# <script>alert(1)</script>"),
    ("script-in-emphasis", "**<script>alert(1)</script>**"),
    ("script-in-table", "| <script>alert(1)</script> |\n|---|\n| <img src=x onerror=alert(1)> |"),
    ("script-in-blockquote", "> > > <script>alert(1)</script>"),
    ("script-in-list", "- item\n  <script>alert(1)</script>"),
    # Event handlers.
    ("img-onerror", "<img src=x onerror=alert(1)>"),
    ("img-onerror-upper", "<IMG SRC=x ONERROR=alert(1)>"),
    ("img-onerror-no-space", "<img/src=x/onerror=alert(1)>"),
    ("svg-onload", "<svg onload=alert(1)>"),
    ("svg-onload-slash", "<svg/onload=alert(1)>"),
    ("body-onload", "<body onload=alert(1)>"),
    ("details-ontoggle", "<details open ontoggle=alert(1)>x</details>"),
    ("div-onmouseover", '<div onmouseover="alert(1)">hover</div>'),
    ("a-onclick-target", '<a href="https://ok.example" target="_blank" onclick="alert(1)">x</a>'),
    ("video-source-onerror", "<video><source onerror=alert(1)></video>"),
    ("marquee-onstart", "<marquee onstart=alert(1)>x</marquee>"),
    ("input-onfocus", "<input autofocus onfocus=alert(1)>"),
    # javascript: URLs in raw HTML.
    ("a-javascript", '<a href="javascript:alert(1)">x</a>'),
    ("a-javascript-entity-decimal", '<a href="&#106;avascript:alert(1)">x</a>'),
    ("a-javascript-entity-hex-tab", '<a href="jav&#x09;ascript:alert(1)">x</a>'),
    ("a-javascript-leading-control", '<a href=" &#14;  javascript:alert(1)">x</a>'),
    ("a-vbscript", '<a href="vbscript:msgbox(1)">x</a>'),
    ("a-data-html", '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>'),
    # javascript:/data: URLs in markdown links and images.
    ("md-link-javascript", "[x](javascript:alert(1))"),
    ("md-link-javascript-mixed-case", "[x](JaVaScRiPt:alert(1))"),
    ("md-link-javascript-leading-space", "[x]( javascript:alert(1))"),
    ("md-link-javascript-entity", "[x](&#106;avascript:alert(1))"),
    ("md-link-javascript-hex-entity", "[x](&#x6A;&#x61;vascript:alert(1))"),
    ("md-link-javascript-colon-entity", "[x](javascript&colon;alert(1))"),
    ("md-link-javascript-tab", "[x](<java\tscript:alert(1)>)"),
    ("md-link-javascript-tab-entity", "[x](jav&#x09;ascript:alert(1))"),
    ("md-link-javascript-newline", "[x](java\nscript:alert(1))"),
    ("md-link-javascript-angle", "[x](<javascript:alert(1)>)"),
    ("md-link-vbscript", "[x](vbscript:msgbox(1))"),
    ("md-link-data-html", "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)"),
    ("md-link-data-image", "[x](data:image/png;base64,iVBORw0KGgo=)"),
    ("md-link-protocol-relative", "[x](//evil.example/phish)"),
    ("md-link-title-handler", '[x](https://ok.example "onmouseover=alert(1)")'),
    ("md-link-title-breakout", '[x](https://ok.example "a\\" onmouseover=\\"alert(1))'),
    ("md-image-javascript", "![x](javascript:alert(1))"),
    ("md-image-data-svg", "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)"),
    ("md-image-remote", "![tracking](https://evil.example/pixel.png)"),
    ("md-image-in-link", "[![x](https://evil.example/a.png)](javascript:alert(1))"),
    ("md-image-alt-html", '![<img src=x onerror=alert(1)>](https://evil.example/a.png "t")'),
    # Reference-style links and images.
    ("ref-link-javascript", "[x][1]\n\n[1]: javascript:alert(1)"),
    ("ref-link-data", "[x]\n\n[x]: data:text/html,<script>alert(1)</script>"),
    ("ref-image-javascript", "![img][i]\n\n[i]: javascript:alert(1)"),
    ("ref-link-entity", '[x][r]\n\n[r]: &#106;avascript:alert(1) "t"'),
    # Autolinks.
    ("autolink-javascript", "<javascript:alert(1)>"),
    ("autolink-javascript-upper", "<JAVASCRIPT:alert(1)>"),
    ("autolink-vbscript", "<vbscript:msgbox(1)>"),
    ("autolink-data", "<data:text/html,alert(1)>"),
    # SVG, MathML, frames, plugins.
    ("svg-script", "<svg><script>alert(1)</script></svg>"),
    ("svg-animate-href", '<svg><a><animate attributeName="href" to="javascript:alert(1)"/><text>x</text></a></svg>'),
    ("math-mxss", "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>"),
    ("iframe-javascript", '<iframe src="javascript:alert(1)"></iframe>'),
    ("iframe-srcdoc", '<iframe srcdoc="<script>alert(1)</script>"></iframe>'),
    ("object-data", '<object data="javascript:alert(1)"></object>'),
    ("embed-data", '<embed src="data:text/html,<script>alert(1)</script>">'),
    # Forms.
    ("form-action", '<form action="javascript:alert(1)"><input type=submit></form>'),
    ("button-formaction", "<button formaction=javascript:alert(1)>x</button>"),
    ("isindex", "<isindex action=javascript:alert(1) type=image>"),
    # Document-level tags.
    ("meta-refresh", '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'),
    ("base-href", '<base href="javascript:alert(1)//">'),
    ("link-stylesheet", '<link rel="stylesheet" href="javascript:alert(1)">'),
    # Styles.
    ("style-tag", "<style>body{background:url(javascript:alert(1))}</style>"),
    ("style-attr-expression", '<div style="width: expression(alert(1))">x</div>'),
    ("style-attr-url", "<p style=\"background:url('javascript:alert(1)')\">x</p>"),
    # Comments, CDATA and parser-confusion tags.
    ("comment-script", "<!--<script>alert(1)</script>-->"),
    ("cdata-script", "<![CDATA[<script>alert(1)</script>]]>"),
    ("noscript-mxss", '<noscript><p title="</noscript><img src=x onerror=alert(1)>">'),
    ("template-script", "<template><script>alert(1)</script></template>"),
    ("xmp-script", "<xmp><script>alert(1)</script></xmp>"),
    # Entities.
    ("entity-lt-script", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("entity-numeric-script", "&#60;script&#62;alert(1)&#60;/script&#62;"),
    # Unicode tricks.
    ("fullwidth-script", "\uff1cscript\uff1ealert(1)\uff1c/script\uff1e"),
    ("zero-width-script", "<scr\u200dipt>alert(1)</scr\u200dipt>"),
    ("zero-width-javascript-link", "[x](java\u200bscript:alert(1))"),
    ("rtl-override-link", "[https://good.example\u202e](javascript:alert(1))"),
    ("rtl-override-text", "\u202egnp.exe <img src=x onerror=alert(1)>"),
    # Malformed markdown.
    ("md-unclosed-link", "[x](javascript:alert(1)"),
    ("md-nested-links", "[[x](javascript:alert(1))](https://ok.example)"),
    ("md-unclosed-fence", "```\n<script>alert(1)</script>"),
    ("md-deep-nesting", "> " * 200 + "<script>alert(1)</script>"),
    ("md-emphasis-soup", "*_**<img src=x onerror=alert(1)>**_*" * 20),
    # Markdown inside code blocks and spans.
    ("fence-script", "```\n<script>alert(1)</script>\n```"),
    ("fence-html-img", "```html\n<img src=x onerror=alert(1)>\n```"),
    ("fence-info-breakout", '```" onmouseover="alert(1)\nx\n```'),
    ("fence-info-class-breakout", '```language-x" onclick="alert(1)\nx\n```'),
    ("indented-code-script", "    <script>alert(1)</script>"),
    ("code-span-script", "`<script>alert(1)</script>`"),
]


class _TagCollector(HTMLParser):
    """Every start tag in a fragment, with its attributes (names lowercased, values unescaped)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _parse(fragment: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    collector = _TagCollector()
    collector.feed(fragment)
    collector.close()
    return collector.tags


def assert_inert(output: str, *, allowed_tags: frozenset[str] = ALLOWED_TAGS) -> None:
    lowered = output.lower()
    for needle in ("<script", "<iframe", "<img", "<svg", "<form", "<style", "<object", "<embed", "<base", "<meta"):
        assert needle not in lowered, output
    for tag, attrs in _parse(output):
        assert tag not in FORBIDDEN_TAGS, output
        assert tag in allowed_tags, output
        for name, value in attrs:
            assert not re.fullmatch(r"on\w+", name), output
            assert name not in {"style", "target", "src", "srcdoc"}, output
            if name in URL_ATTRIBUTES:
                url = _URL_NOISE.sub("", value or "").lower()
                assert not url.startswith(BAD_SCHEMES), output
                assert url.startswith(SAFE_HREF_PREFIXES), output
        if tag == "a":
            assert dict(attrs).get("rel") == LINK_REL, output


@pytest.fixture
def markdown_passing_raw_html(monkeypatch: pytest.MonkeyPatch) -> None:
    """Layer 1 misconfigured to pass raw HTML through, so only the nh3 layer stands in the way."""
    permissive = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    monkeypatch.setattr(markdown_module, "_MARKDOWN", permissive)


def test_corpus_is_large_enough() -> None:
    assert len(XSS_CORPUS) >= 50
    assert len({name for name, _ in XSS_CORPUS}) == len(XSS_CORPUS)


@pytest.mark.parametrize("payload", [p for _, p in XSS_CORPUS], ids=[n for n, _ in XSS_CORPUS])
def test_render_markdown_output_is_inert(payload: str) -> None:
    assert_inert(render_markdown(payload))


@pytest.mark.parametrize("payload", [p for _, p in XSS_CORPUS], ids=[n for n, _ in XSS_CORPUS])
@pytest.mark.usefixtures("markdown_passing_raw_html")
def test_sanitiser_alone_keeps_output_inert_when_raw_html_gets_through(payload: str) -> None:
    assert_inert(render_markdown(payload))


@pytest.mark.parametrize("payload", [p for _, p in XSS_CORPUS], ids=[n for n, _ in XSS_CORPUS])
def test_render_plain_output_is_inert(payload: str) -> None:
    assert_inert(render_plain(payload), allowed_tags=frozenset({"br"}))


def test_raw_html_is_shown_as_text() -> None:
    assert render_markdown("<b>hi</b>") == "<p>&lt;b&gt;hi&lt;/b&gt;</p>\n"


@pytest.mark.usefixtures("markdown_passing_raw_html")
def test_sanitiser_drops_script_and_style_content_not_just_the_tags() -> None:
    output = render_markdown("<p>ok<script>alert(1)</script><style>p{}</style></p>")
    assert output == "<p>ok</p>"


def test_headings() -> None:
    assert render_markdown("# One\n\n###### Six") == "<h1>One</h1>\n<h6>Six</h6>\n"


def test_lists() -> None:
    assert render_markdown("- a\n- b") == "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n"
    assert render_markdown("1. a\n2. b") == "<ol>\n<li>a</li>\n<li>b</li>\n</ol>\n"


def test_emphasis_strong_and_strikethrough() -> None:
    assert render_markdown("*a* **b** ~~c~~") == "<p><em>a</em> <strong>b</strong> <s>c</s></p>\n"


def test_blockquote_rule_and_hard_break() -> None:
    assert render_markdown("> q\n\n---\n\na  \nb") == "<blockquote>\n<p>q</p>\n</blockquote>\n<hr>\n<p>a<br>\nb</p>\n"


def test_table_keeps_alignment_as_align_attribute() -> None:
    output = render_markdown("| l | c | r | n |\n|:--|:-:|--:|---|\n| 1 | 2 | 3 | 4 |")
    cells = [(tag, dict(attrs)) for tag, attrs in _parse(output) if tag in {"th", "td"}]
    assert [attrs.get("align") for _, attrs in cells] == ["left", "center", "right", None] * 2
    assert "style" not in output
    assert output.startswith("<table>\n<thead>\n<tr>\n")
    assert "<tbody>" in output


def test_fenced_code_keeps_language_class_and_escapes_contents() -> None:
    output = render_markdown("```python\nprint('<b>hi</b>' & x)\n```")
    assert output == "<pre><code class=\"language-python\">print('&lt;b&gt;hi&lt;/b&gt;' &amp; x)\n</code></pre>\n"


@pytest.mark.parametrize("language", ["c++", "objective-c", "shell_session", "Python3"])
def test_fenced_code_language_class_allows_plus_dash_underscore(language: str) -> None:
    assert f'<code class="language-{language}">' in render_markdown(f"```{language}\nx\n```")


def test_fenced_code_language_class_with_other_characters_is_dropped() -> None:
    assert render_markdown('```py"thon\nx\n```') == "<pre><code>x\n</code></pre>\n"


def test_http_link_kept_with_rel_and_title() -> None:
    output = render_markdown('[site](https://example.com/a?b=1&c=2 "Title")')
    assert output == (
        '<p><a href="https://example.com/a?b=1&amp;c=2" title="Title" rel="noopener noreferrer nofollow">site</a></p>\n'
    )


def test_autolink_http_kept() -> None:
    output = render_markdown("<http://example.com>")
    assert output == '<p><a href="http://example.com" rel="noopener noreferrer nofollow">http://example.com</a></p>\n'


def test_mailto_link_kept() -> None:
    output = render_markdown("[mail](mailto:someone@example.com)")
    assert output == '<p><a href="mailto:someone@example.com" rel="noopener noreferrer nofollow">mail</a></p>\n'


@pytest.mark.parametrize("href", ["/admin/", "#top", "//evil.example/", "ftp://example.com/f"])
def test_relative_and_other_scheme_links_lose_their_href(href: str) -> None:
    assert render_markdown(f"[x]({href})") == '<p><a rel="noopener noreferrer nofollow">x</a></p>\n'


def test_image_renders_as_escaped_alt_text() -> None:
    assert render_markdown("![a *cat* <b>](https://example.com/cat.png)") == "<p>a cat &lt;b&gt;</p>\n"


def test_render_plain_escapes_and_keeps_newlines() -> None:
    assert render_plain("a <b>\"x\" & 'y'\nline2\r\nline3\rline4") == (
        "a &lt;b&gt;&quot;x&quot; &amp; &#x27;y&#x27;<br>line2<br>line3<br>line4"
    )


def test_render_plain_does_not_interpret_markdown() -> None:
    assert render_plain("**bold** [x](https://example.com)") == "**bold** [x](https://example.com)"


def test_markdown_filter_renders_without_double_escaping() -> None:
    template = Template("{% load safe_markdown %}{{ value|markdown }}")
    assert template.render(Context({"value": "**hi** <b>"})) == "<p><strong>hi</strong> &lt;b&gt;</p>\n"


def test_plaintext_filter_escapes_and_keeps_newlines() -> None:
    template = Template("{% load safe_markdown %}{{ value|plaintext }}")
    assert template.render(Context({"value": "<i>a</i>\nb"})) == "&lt;i&gt;a&lt;/i&gt;<br>b"


def test_filters_render_none_as_nothing() -> None:
    template = Template("{% load safe_markdown %}[{{ value|markdown }}|{{ value|plaintext }}]")
    assert template.render(Context({"value": None})) == "[|]"
