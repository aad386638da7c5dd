"""Natural keys, shared by every source that can reach the same thing.

A WordPress comment reached through the REST API and through the post's comment
feed must get the same key, so both modules build it here.
"""

from __future__ import annotations

import re

from aggregator.urls import host_of, site_of

_WP_COMMENT = re.compile(r"#comment-(\d+)$")


def mastodon_status(uri: str) -> str:
    """A status's ActivityPub ``uri`` is the same on every instance that knows it."""
    return uri


def mastodon_account(uri_or_url: str) -> str:
    return f"mastodon:{uri_or_url}"


def mastodon_local(host: str, status_id: str) -> str:
    """A status's name on the server that served it: ids are server-local, and a reply
    names its parent only this way (``in_reply_to_id``)."""
    return f"mastodon-local:{host}/{status_id}"


def blogger_comment(blog_id: str, comment_id: str) -> str:
    return f"blogger:{blog_id}:comment:{comment_id}"


def blogger_author(blog_id: str, name: str, profile_id: str | None = None) -> str:
    if profile_id:
        return f"blogger:profile:{profile_id}"
    return f"blogger:{blog_id}:author:{' '.join(name.split()).casefold()}"


def bluesky_post(at_uri: str) -> str:
    """A Bluesky post's ``at://did/app.bsky.feed.post/rkey`` uri, the same everywhere."""
    return at_uri


def bluesky_account(did: str) -> str:
    return f"bluesky:{did}"


_BRIDGED_BSKY = re.compile(
    r"^https://bsky\.brid\.gy/convert/ap/(at://(did:[a-z]+:[A-Za-z0-9._:%-]+)/app\.bsky\.feed\.post/([A-Za-z0-9._~:-]+))$"
)


def bridged_bluesky_post(activitypub_uri: str) -> tuple[str, str, str] | None:
    """A Bluesky post bridged into the fediverse by Bridgy Fed has an ActivityPub id
    ``https://bsky.brid.gy/convert/ap/at://did/app.bsky.feed.post/rkey``: returns the
    original's (at-uri, did, rkey), so the copy and the original are one item."""
    m = _BRIDGED_BSKY.match(activitypub_uri)
    return (m.group(1), m.group(2), m.group(3)) if m else None


def x_post(tweet_id: str) -> str:
    return f"x:{tweet_id}"


def x_account(user_id: str) -> str:
    return f"x:{user_id}"


def reddit_post(fullname: str) -> str:
    """``reddit:t3_…``: a submission's fullname is unique across Reddit."""
    return f"reddit:{fullname}"


def discourse_post(forum: str, post_id: int) -> str:
    return f"discourse:{host_of(forum)}:post:{post_id}"


def discourse_post_alias(forum: str, topic_id: int, post_number: int) -> str:
    return f"discourse:{host_of(forum)}:topic:{topic_id}:{post_number}"


def discourse_account(forum: str, username: str) -> str:
    return f"discourse:{host_of(forum)}:user:{username.casefold()}"


def wordpress_comment(site_url: str, comment_id: int | str) -> str:
    return f"wordpress:{site_of(site_url)}:comment:{comment_id}"


def wordpress_post(site_url: str, post_id: int | str) -> str:
    return f"wordpress:{site_of(site_url)}:post:{post_id}"


def wordpress_author(site_url: str, name: str) -> str:
    # REST gives author_url, RSS gives none: key on the name so both meet.
    return f"wordpress:{site_of(site_url)}:author:{' '.join(name.split()).casefold()}"


def wordpress_comment_from_url(url: str) -> str | None:
    """``https://site/?p=4#comment-2`` or ``https://site/post/#comment-2`` → comment key."""
    m = _WP_COMMENT.search(url.strip())
    if m is None:
        return None
    return wordpress_comment(url, m.group(1))


def feed_entry(feed_url: str, entry_id: str) -> str:
    return f"feed:{entry_id or feed_url}"
