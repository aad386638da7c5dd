"""The bundled sample conversation: the launch of a set of coproduction resources at a
social-care institute, its #coproduction posts on two Mastodon servers, and a blog
post with a threaded comment section.

The records are in each platform's own shape (Mastodon ``Status`` JSON, WordPress
comment fields); the simulators serve them in the real wire formats. People and
organisations are invented.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

BLOG_SLUG = "coproduction-win"
BLOG_TITLE = "#Coproduction = win (and Bill Shankly)"

_ACCOUNTS: dict[str, dict[str, Any]] = {
    "carehub": {
        "domain": "social.example",
        "name": "Care Institute",
        "note": "<p>Improving the lives of people who use care services. Resources, research, training.</p>",
    },
    "ngozi": {
        "domain": "mastodon.example",
        "name": "Ngozi Eze",
        "note": "<p>Carer, trainer, coproduction nerd.</p>",
    },
    "dan": {
        "domain": "social.example",
        "name": "Dan Whitfield",
        "note": "<p>Man of letters &amp; numbers; occasionally of action. Blogs at coproduction-win.</p>",
    },
    "priya": {
        "domain": "mastodon.example",
        "name": "Priya Raman",
        "note": "<p>Commissioner. Views mine.</p>",
    },
    "tom": {
        "domain": "social.example",
        "name": "Tom Adeyemi",
        "note": "<p>Peer researcher. He/him.</p>",
    },
    "lee": {
        "domain": "social.example",
        "name": "Lee Hart",
        "note": '<p>Please don\'t archive me <a href="https://social.example/tags/nobot" class="mention hashtag" rel="tag">#<span>nobot</span></a></p>',
    },
    "sam": {
        "domain": "mastodon.example",
        "name": "Sam Okoro",
        "note": "<p>Social worker. Learning every day.</p>",
    },
}


def _account(handle: str, home: str) -> dict[str, Any]:
    a = _ACCOUNTS[handle]
    base = f"https://{a['domain']}"
    return {
        "id": str(100000 + sorted(_ACCOUNTS).index(handle)),
        "username": handle,
        "acct": handle if a["domain"] == home else f"{handle}@{a['domain']}",
        "display_name": a["name"],
        "locked": False,
        "bot": False,
        "discoverable": True,
        "indexable": True,
        "group": False,
        "created_at": "2022-11-01T00:00:00.000Z",
        "note": a["note"],
        "url": f"{base}/@{handle}",
        "uri": f"{base}/users/{handle}",
        "avatar": f"{base}/avatars/{handle}.png",
        "avatar_static": f"{base}/avatars/{handle}.png",
        "header": f"{base}/headers/missing.png",
        "header_static": f"{base}/headers/missing.png",
        "followers_count": 120,
        "following_count": 80,
        "statuses_count": 300,
        "last_status_at": "2026-11-22",
        "emojis": [],
        "fields": [],
    }


def _tag_link(domain: str, tag: str) -> str:
    return (
        f'<a href="https://{domain}/tags/{tag.lower()}" class="mention hashtag" '
        f'rel="tag">#<span>{tag}</span></a>'
    )


def _link(url: str) -> str:
    """Mastodon's markup for a link (``url`` already HTML-escaped): the scheme and the
    tail hidden, the rest shown with an ellipsis."""
    scheme, rest = url.split("://", 1)
    shown, hidden = rest[:30], rest[30:]
    if hidden:
        visible = f'<span class="ellipsis">{shown}</span><span class="invisible">{hidden}</span>'
    else:
        visible = f'<span class="">{shown}</span>'
    return (
        f'<a href="{url}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{scheme}://</span>{visible}</a>'
    )


# (local id, author, created (UTC), text with {#tag} and {link:URL}, reply-to local id, counts)
_POSTS: list[tuple[str, str, str, str, str | None, tuple[int, int, int]]] = [
    (
        "p1",
        "carehub",
        "2026-11-20T09:02:11Z",
        "Today we launch our new {#Coproduction} resources: practical guides, short films and case studies, made with people who use services and their carers. {link:https://care.example.org/coproduction}",
        None,
        (3, 14, 22),
    ),
    (
        "p2",
        "ngozi",
        "2026-11-20T09:15:40Z",
        "Congratulations! The films in \u2018Have I Got News For You\u2019 style are brilliant \U0001f44f {#coproduction}",
        "p1",
        (0, 2, 6),
    ),
    (
        "p3",
        "dan",
        "2026-11-20T09:41:05Z",
        "At the {#coproduction} launch. Quite a lot of people get hung up on the definition. Easier to agree on what it isn\u2019t: two professionals from different organisations meeting is not coproduction.",
        None,
        (2, 5, 11),
    ),
    (
        "p4",
        "priya",
        "2026-11-20T10:05:27Z",
        "Question from the chair: how do we get organisations who don\u2019t get {#coproduction} to see its value? My answer: equip people with the expectation that they shape services, and with the evidence. {link:https://copronet.example/evidence}",
        None,
        (1, 4, 9),
    ),
    (
        "p5",
        "carehub",
        "2026-11-20T10:31:50Z",
        "Thank you Priya. The evidence review is part of the resources too: {link:https://care.example.org/coproduction/evidence-review} {#coproduction}",
        "p4",
        (0, 3, 5),
    ),
    (
        "p6",
        "tom",
        "2026-11-20T11:30:02Z",
        "Both the chair and the incoming chief executive here today. A fine sign of commitment to {#coproduction}.",
        None,
        (0, 1, 4),
    ),
    (
        "p7",
        "ngozi",
        "2026-11-20T13:04:44Z",
        "Still surprised there was no session on {#coproduction} at the national adult social care conference. There should have been.",
        None,
        (1, 2, 7),
    ),
    (
        "p8",
        "dan",
        "2026-11-20T14:10:00Z",
        "Wrote up five thoughts from today\u2019s launch: {#Coproduction} = win (and Bill Shankly) {link:{blog}}",
        None,
        (2, 6, 12),
    ),
    (
        "p9",
        "priya",
        "2026-11-20T14:32:19Z",
        "Love the Shankly ending \U0001f604 {#coproduction}",
        "p8",
        (0, 0, 3),
    ),
    (
        "p10",
        "lee",
        "2026-11-20T15:00:00Z",
        "My notes from the {#coproduction} launch (I asked not to be archived).",
        None,
        (0, 0, 1),
    ),
    (
        "p11",
        "carehub",
        "2026-11-21T09:00:30Z",
        "Thanks to everyone who came yesterday. Slides and films are all here: {link:https://care.example.org/coproduction?utm_source=mastodon&utm_medium=social} {#coproduction}",
        None,
        (0, 8, 10),
    ),
    (
        "p12",
        "sam",
        "2026-11-21T10:20:15Z",
        "Sharing the new case studies with our team this week {#coproduction} {link:https://care.example.org/coproduction/case-studies}",
        None,
        (0, 1, 2),
    ),
    (
        "p13",
        "tom",
        "2026-11-21T16:45:00Z",
        "Coproduction has come a long way, but we all have to work together to take it further. {#coproduction} {#socialcare}",
        None,
        (0, 2, 5),
    ),
    (
        "p14",
        "ngozi",
        "2026-11-22T11:12:00Z",
        "The Coproduction Practitioners Network has lots of case studies if you want more after this week {#coproduction} {link:https://copronet.example/case-studies}",
        None,
        (0, 3, 6),
    ),
]

# Which server's tag timeline knows which post (federation is partial): p1 and p8
# reached both, so both servers return them and the store keeps one copy.
_SEEN_ON = {
    "social.example": {"p1", "p3", "p5", "p6", "p8", "p10", "p11", "p13", "p2", "p4", "p9"},
    "mastodon.example": {"p1", "p2", "p4", "p7", "p8", "p9", "p12", "p14", "p13"},
}


def _snowflake(created: str, n: int) -> str:
    ms = int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp() * 1000)
    return str((ms << 16) | n)


def mastodon_statuses(server: str, blog_url: str) -> list[dict[str, Any]]:
    """The Status objects ``server``'s tag timeline serves, newest first."""
    by_local: dict[str, dict[str, Any]] = {}
    for n, (local, who, created, text, reply_to, (replies, boosts, likes)) in enumerate(_POSTS):
        if local not in _SEEN_ON[server]:
            continue
        origin = _ACCOUNTS[who]["domain"]
        html = escape(text.replace("{link:{blog}}", f"{{link:{blog_url}}}"), quote=False)
        tags: list[str] = []
        while "{#" in html:
            start = html.index("{#")
            end = html.index("}", start)
            tag = html[start + 2 : end]
            tags.append(tag.lower())
            html = html[:start] + _tag_link(origin, tag) + html[end + 1 :]
        while "{link:" in html:
            start = html.index("{link:")
            end = html.index("}", start + 6)
            url = html[start + 6 : end]
            html = html[:start] + _link(url) + html[end + 1 :]
        origin_id = _snowflake(created, n)
        status_id = _snowflake(created, n + (0 if server == origin else 500))
        parent = by_local.get(reply_to) if reply_to else None
        by_local[local] = {
            "id": status_id,
            "created_at": created.replace("Z", ".000Z"),
            "in_reply_to_id": parent["id"] if parent else None,
            "in_reply_to_account_id": parent["account"]["id"] if parent else None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": "public",
            "language": "en",
            "uri": f"https://{origin}/users/{who}/statuses/{origin_id}",
            "url": f"https://{origin}/@{who}/{origin_id}",
            "replies_count": replies,
            "reblogs_count": boosts,
            "favourites_count": likes,
            "quotes_count": 0,
            "edited_at": "2026-11-21T17:02:00.000Z" if local == "p13" else None,
            "content": f"<p>{html}</p>",
            "reblog": None,
            "application": None,
            "account": _account(who, server),
            "media_attachments": [],
            "mentions": [],
            "tags": [{"name": t, "url": f"https://{server}/tags/{t}"} for t in tags],
            "emojis": [],
            "card": None,
            "poll": None,
        }
    return sorted(by_local.values(), key=lambda s: (len(s["id"]), s["id"]), reverse=True)


# (id, parent id, author name as typed, author url, created UTC, text paragraphs)
_COMMENTS: list[tuple[int, int, str, str, str, list[str]]] = [
    (
        41,
        0,
        "Zoë & Max",
        "",
        "2026-11-20T16:02:00Z",
        [
            "Great write-up. Point 1 rings so true \u2013 we lost a whole workshop to \u201cbut what IS coproduction?\u201d last spring."
        ],
    ),
    (
        42,
        41,
        "Dan Whitfield",
        "https://blog.example/",
        "2026-11-20T16:20:00Z",
        ["Ha, we\u2019ve all been there! Start with what it isn\u2019t and the rest follows."],
    ),
    (
        43,
        0,
        "Ruth Okafor",
        "https://ruth.example.net",
        "2026-11-20T18:30:00Z",
        [
            "On point 2: the evidence matters, but so does time. People can\u2019t coproduce on a two-week consultation.",
            "The network\u2019s guide on this is good: https://copronet.example/time-and-trust",
        ],
    ),
    (
        44,
        43,
        "Priya Raman",
        "",
        "2026-11-20T19:05:00Z",
        ["Agree \u2013 commissioners need to budget the time as well as the money."],
    ),
    (45, 0, "Alan", "", "2026-11-21T08:15:00Z", ["The Shankly line made my morning \U0001f44d"]),
    (
        46,
        45,
        "Dan Whitfield",
        "https://blog.example/",
        "2026-11-21T08:40:00Z",
        ["Glad it landed! Credit to Bill."],
    ),
    (
        47,
        0,
        "Marta Nowak",
        "",
        "2026-11-21T20:10:00Z",
        [
            "We\u2019re using the new case studies in our team meeting on Tuesday. Thank you for the summary."
        ],
    ),
]


def wordpress_site_data() -> dict[str, Any]:
    """The blog, in the shape ``WordPressSite.from_data`` takes (comments as typed)."""
    return {
        "name": "Letters & Numbers",
        "description": "Occasionally of action",
        "utc_offset_minutes": 0,
        "posts": [
            {
                "id": 1207,
                "slug": BLOG_SLUG,
                "title": BLOG_TITLE,
                "author": "Dan Whitfield",
                "date": "2026-11-20T13:55:00+00:00",
                "content": "<p>It was great to be at the launch of the Care Institute\u2019s "
                "excellent new resources on coproduction today.</p>",
            }
        ],
        "comments": [
            {
                "id": cid,
                "post": 1207,
                "parent": parent,
                "author_name": name,
                "author_url": url,
                "date": created.replace("Z", "+00:00"),
                "content": "\n\n".join(paragraphs),
            }
            for cid, parent, name, url, created, paragraphs in _COMMENTS
        ],
    }


# Bluesky: (handle, display name, created (UTC), text, reply to index, counts)
_BLUESKY: list[tuple[str, str, str, str, int | None, tuple[int, int, int]]] = [
    (
        "sarahlowe.bsky.social",
        "Sarah Lowe",
        "2026-11-20T09:30:00Z",
        "Watching the #coproduction launch from home. The short films are exactly what our carers' forum needed https://care.example.org/coproduction",
        None,
        (1, 4, 15),
    ),
    (
        "amirk.bsky.social",
        "Amir Khan",
        "2026-11-20T09:52:00Z",
        "Same here! Sharing with our peer support group #coproduction",
        0,
        (0, 1, 3),
    ),
    (
        "ruthokafor.bsky.social",
        "Ruth Okafor",
        "2026-11-20T17:05:00Z",
        "Dan's five thoughts on yesterday's launch are worth a read, especially the bit about definitions #coproduction {blog}",
        None,
        (0, 2, 6),
    ),
    (
        "amirk.bsky.social",
        "Amir Khan",
        "2026-11-22T10:40:00Z",
        "Day three and the #coproduction conversation is still going. Evidence review: https://care.example.org/coproduction/evidence-review",
        None,
        (0, 3, 7),
    ),
]
BRIDGED = 0
"""Which Bluesky post Bridgy Fed also carries into the fediverse (social.example)."""


def bluesky_posts(blog_url: str) -> list[dict[str, Any]]:
    """PostViews for the Bluesky simulator, oldest first."""
    from aggregator.demo.bluesky_sim import make_post, make_profile, tid

    posts: list[dict[str, Any]] = []
    for n, (handle, name, created, text, reply_to, (replies, reposts, likes)) in enumerate(
        _BLUESKY
    ):
        at = datetime.fromisoformat(created.replace("Z", "+00:00"))
        posts.append(
            make_post(
                make_profile(handle, display_name=name),
                text.replace("{blog}", blog_url),
                created_at=at,
                rkey=tid(at, n),
                reply_to=posts[reply_to]["uri"] if reply_to is not None else None,
                counts={"replyCount": replies, "repostCount": reposts, "likeCount": likes},
            )
        )
    return posts


def bridged_status(post: dict[str, Any], server: str) -> dict[str, Any]:
    """The Mastodon status Bridgy Fed makes of a Bluesky post, as ``server`` serves it."""
    did, rkey = post["uri"].removeprefix("at://").split("/app.bsky.feed.post/")
    handle = post["author"]["handle"]
    created = post["record"]["createdAt"]
    ms = int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp() * 1000)
    return {
        "id": str((ms << 16) | 900),
        "created_at": created,
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": "en",
        "uri": f"https://bsky.brid.gy/convert/ap/{post['uri']}",
        "url": f"https://bsky.brid.gy/r/https://bsky.app/profile/{did}/post/{rkey}",
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 1,
        "edited_at": None,
        "content": "<p>"
        + escape(post["record"]["text"]).replace(
            "#coproduction",
            f'<a href="https://{server}/tags/coproduction" class="mention hashtag" rel="tag">'
            "#<span>coproduction</span></a>",
        )
        + "</p>",
        "reblog": None,
        "account": {
            "id": "990001",
            "username": handle,
            "acct": f"{handle}@bsky.brid.gy",
            "display_name": post["author"]["displayName"],
            "bot": False,
            "discoverable": True,
            "indexable": True,
            "note": "<p>[bridged from Bluesky by Bridgy Fed]</p>",
            "url": f"https://bsky.brid.gy/r/https://bsky.app/profile/{handle}",
            "uri": f"https://bsky.brid.gy/ap/{did}",
            "avatar": "https://bsky.brid.gy/static/avatar.png",
            "avatar_static": "https://bsky.brid.gy/static/avatar.png",
            "emojis": [],
            "fields": [],
        },
        "media_attachments": [],
        "mentions": [],
        "tags": [{"name": "coproduction", "url": f"https://{server}/tags/coproduction"}],
        "emojis": [],
        "card": None,
        "poll": None,
    }
