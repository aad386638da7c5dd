"""WordPress's text filters, reduced to what shapes the payloads the simulator serves.

What a commenter typed goes through :func:`kses` (``pre_comment_content``) and its name
through :func:`specialchars` (``pre_comment_author_name``) before it is stored; at read
time :func:`comment_text` renders it for HTML and the REST API, :func:`comment_text_rss`
for feeds. Each function names the core function it stands in for; none of them is a
sanitizer to trust with real input.
"""

from __future__ import annotations

import html
import re
from html.entities import name2codepoint

_EMOJI_CDN = "https://s.w.org/images/core/emoji/16.0.1/72x72/"
_KSES_TAGS = {
    "a": {"href", "title", "rel"},
    "abbr": {"title"},
    "acronym": {"title"},
    "b": set(),
    "blockquote": {"cite"},
    "cite": set(),
    "code": set(),
    "del": {"datetime"},
    "em": set(),
    "i": set(),
    "q": {"cite"},
    "s": set(),
    "strike": set(),
    "strong": set(),
}
_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:\s+[^\s=>]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]*))?)*)\s*/?>"
)
_ATTR = re.compile(r"([^\s=>]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>]*))?")
_URL = re.compile(r"(?<![\w/=\"'])(https?://[^\s<>\"']+)")


def kses(content: str) -> str:
    """``wp_filter_kses`` for commenters plus ``wp_rel_ugc``: allowed tags, nothing else."""
    content = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", "", content)
    out: list[str] = []
    pos = 0
    for m in _TAG.finditer(content):
        out.append(_escape_text(content[pos : m.start()]))
        pos = m.end()
        closing, name, attrs = m.group(1), m.group(2).lower(), m.group(3)
        if name not in _KSES_TAGS:
            continue
        if closing:
            out.append(f"</{name}>")
            continue
        kept = []
        for a in _ATTR.finditer(attrs):
            key, value = a.group(1).lower(), html.unescape((a.group(2) or "").strip("\"'"))
            if key in _KSES_TAGS[name] and key != "rel":
                if key in ("href", "cite") and not re.match(r"(?i)https?:|mailto:|/|#", value):
                    continue
                kept.append(f'{key}="{html.escape(value)}"')
        if name == "a":
            kept.append('rel="nofollow ugc"')
        out.append(f"<{name}{''.join(' ' + k for k in kept)}>")
    out.append(_escape_text(content[pos:]))
    return "".join(out)


def _escape_text(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def comment_text(stored: str) -> str:
    """``comment_text`` filters: make_clickable, wptexturize, wpautop."""
    return wpautop(wptexturize(make_clickable(stored)))


def make_clickable(text: str) -> str:
    out: list[str] = []
    in_link = False
    for part in re.split(r"(<[^>]*>)", text):
        if part.startswith("<"):
            in_link = part.lower().startswith("<a ") or (in_link and part.lower() != "</a>")
            out.append(part)
        elif in_link:
            out.append(part)
        else:
            out.append(_URL.sub(_link, part))
    return "".join(out)


def _link(m: re.Match[str]) -> str:
    url = m.group(1)
    tail = ""
    while url and url[-1] in ".,;:!?)":
        url, tail = url[:-1], url[-1] + tail
    return f'<a href="{url}" rel="nofollow ugc">{url}</a>{tail}'


def wptexturize(text: str) -> str:
    """Curly quotes, primes, dashes and ellipses outside tags and ``<code>``."""
    out: list[str] = []
    in_code = False
    for part in re.split(r"(<[^>]*>)", text):
        if part.startswith("<"):
            low = part.lower()
            in_code = low.startswith(("<code", "<pre")) or (
                in_code and low not in ("</code>", "</pre>")
            )
            out.append(part)
            continue
        if in_code:
            out.append(part)
            continue
        s = part.replace("...", "&#8230;").replace("---", "&#8212;").replace(" -- ", " &#8212; ")
        s = s.replace("--", "&#8211;").replace(" - ", " &#8211; ")
        s = re.sub(r"(?<=\d)\"", "&#8243;", s)
        s = re.sub(r"(?<=\d)'", "&#8242;", s)
        s = re.sub(r"(^|(?<=[\s(\[{]))\"", "&#8220;", s)
        s = s.replace('"', "&#8221;")
        s = re.sub(r"(^|(?<=[\s(\[{]))'", "&#8216;", s)
        s = s.replace("'", "&#8217;")
        s = re.sub(r"&(?!#(?:\d+|x[a-fA-F0-9]+);|[a-zA-Z1-4]{1,8};)", "&#038;", s)
        out.append(s)
    return "".join(out)


def wpautop(text: str) -> str:
    """Paragraphs on blank lines, ``<br />`` on single newlines; blockquotes get inner ``<p>``."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if b.strip()]
    out = []
    for block in blocks:
        m = re.fullmatch(r"(?s)<blockquote([^>]*)>(.*)</blockquote>", block)
        if m:
            out.append(f"<blockquote{m.group(1)}>{wpautop(m.group(2)).strip()}</blockquote>\n")
        else:
            out.append("<p>" + block.replace("\n", "<br />\n") + "</p>\n")
    return "".join(out)


def comment_text_rss(stored: str) -> str:
    """``comment_text_rss``: ent2ncr, esc_html, wp_staticize_emoji (no autop, no links)."""
    escaped = esc_html(ent2ncr(stored))
    escaped = re.sub(r"&#x([0-9a-fA-F]{5});", lambda m: chr(int(m.group(1), 16)), escaped)
    return re.sub(r"([\U0001F000-\U0001FAFF\u2600-\u27BF]\ufe0f?)", _emoji_img, escaped)


def _emoji_img(m: re.Match[str]) -> str:
    code = f"{ord(m.group(1)[0]):x}"
    return (
        f'<img src="{_EMOJI_CDN}{code}.png" alt="{m.group(1)}" class="wp-smiley" '
        'style="height: 1em; max-height: 1em;" />'
    )


def esc_html(text: str) -> str:
    # esc_html does not double-encode entities.
    text = re.sub(r"&(?!#\d+;|#x[0-9a-fA-F]+;|[a-zA-Z][a-zA-Z0-9]*;)", "&amp;", text)
    return (
        text.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace("'", "&#039;")
    )


def ent2ncr(text: str) -> str:
    def ncr(m: re.Match[str]) -> str:
        cp = name2codepoint.get(m.group(1))
        return f"&#{cp};" if cp is not None else m.group(0)

    return re.sub(r"&([a-zA-Z][a-zA-Z0-9]*);", ncr, text)


def specialchars(text: str) -> str:
    """``_wp_specialchars`` (ENT_NOQUOTES, no double encoding)."""
    text = re.sub(r"&(?!#\d+;|#x[0-9a-fA-F]+;|[a-zA-Z][a-zA-Z0-9]*;)", "&amp;", text)
    return text.replace("<", "&lt;").replace(">", "&gt;")


__all__ = [
    "comment_text",
    "comment_text_rss",
    "ent2ncr",
    "esc_html",
    "kses",
    "make_clickable",
    "specialchars",
    "wpautop",
    "wptexturize",
]
