"""Which addresses may become links, answered fast for the addresses every post has."""

from __future__ import annotations

from aggregator.urls import web_url as _parsed_web_url


def web_url(url: str | None) -> str | None:
    """:func:`aggregator.urls.web_url`, answering the usual case (a plain ``https://``
    address) without parsing it: a digest asks for every author and item it shows."""
    if (
        url
        and url.startswith(("https://", "http://"))
        and url.isascii()
        and "[" not in url
        and "]" not in url
    ):
        # What web_url decides for these: the scheme is http(s), and nothing in the
        # address (an unbalanced IPv6 bracket, an odd non-ASCII host) makes it raise.
        return url
    return _parsed_web_url(url)
