"""Highlights: engagement = 3 × replies + 2 × reposts + likes, divided by the typical
(median) engagement on the same platform, capped per author and per server, pinned
items first; each with a sentence saying why it is there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aggregator.digest.highlights import PINNED_WHY, choose, engagement, host, typical
from aggregator.models import AuthorData, Engagement, ItemData

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
LABELS = {"mastodon": "Mastodon", "x": "X", "wordpress": "WordPress"}


def post(
    n: int,
    *,
    platform: str = "mastodon",
    server: str = "social.example",
    author: str | None = None,
    replies: int | None = None,
    reposts: int | None = None,
    likes: int | None = None,
) -> ItemData:
    who = author or f"person{n}"
    return ItemData(
        key=f"{platform}:{n}",
        platform=platform,
        kind="post",
        url=f"https://{server}/@{who}/{n}",
        author=AuthorData(f"{platform}:{who}", platform, who.title(), f"@{who}"),
        html=f"<p>{n}</p>",
        text=str(n),
        created_at=T0 + timedelta(minutes=n),
        engagement=Engagement(replies, reposts, likes),
    )


def test_engagement_weighs_replies_over_reposts_over_likes_and_unknown_is_zero() -> None:
    assert engagement(post(1, replies=2, reposts=3, likes=4)) == 3 * 2 + 2 * 3 + 4
    assert engagement(post(2)) == 0


def test_the_typical_engagement_is_each_platforms_median() -> None:
    items = [post(1, likes=1), post(2, likes=3), post(3, likes=100), post(4, platform="x")]
    assert typical(items) == {"mastodon": 3.0, "x": 0.0}


def test_scores_are_relative_to_the_platform_so_a_big_one_does_not_take_every_place() -> None:
    # On X most posts draw 50 likes; on Mastodon most draw 2. A Mastodon post with 12
    # is the more remarkable, though X's best has far more.
    x = [post(n, platform="x", server=f"x{n}.example", likes=50) for n in range(1, 6)]
    x.append(post(9, platform="x", server="x9.example", likes=150))
    masto = [post(n, server=f"m{n}.example", likes=2) for n in range(10, 15)]
    masto.append(post(19, server="m19.example", likes=12))
    chosen = choose([*x, *masto], labels=LABELS)
    assert [c.key for c in chosen[:2]] == ["mastodon:19", "x:9"]
    assert chosen[0].why == "12 likes: 6.0× the typical Mastodon post that day"
    assert chosen[1].why == "150 likes: 3.0× the typical X post that day"
    assert chosen[0].score == 6.0


def test_items_nobody_responded_to_are_never_highlights() -> None:
    assert choose([post(1), post(2, likes=0)]) == ()


def test_at_most_two_per_author_three_per_server_and_eight_in_all() -> None:
    busy_author = [post(n, author="ana", server=f"s{n}.example", likes=100 - n) for n in range(3)]
    big_server = [post(n, server="big.example", likes=90 - n) for n in range(10, 15)]
    others = [post(n, server=f"o{n}.example", likes=10) for n in range(20, 30)]
    chosen = choose([*busy_author, *big_server, *others])
    keys = [c.key for c in chosen]
    assert len(keys) == 8
    assert keys[:5] == ["mastodon:0", "mastodon:1", "mastodon:10", "mastodon:11", "mastodon:12"]
    assert "mastodon:2" not in keys, "ana's third post is left out"
    assert "mastodon:13" not in keys, "a fourth post from big.example is left out"


def test_pinned_items_come_first_in_the_organisers_order_whatever_their_score() -> None:
    items = [
        post(1, server="a.example", likes=100),
        post(2, server="b.example"),
        post(3, server="c.example", likes=5),
        post(4, server="d.example", likes=1),
    ]
    chosen = choose(items, pinned=("mastodon:2", "mastodon:missing", "mastodon:3"))
    assert [(c.key, c.pinned) for c in chosen] == [
        ("mastodon:2", True),
        ("mastodon:3", True),
        ("mastodon:1", False),
        ("mastodon:4", False),
    ]
    assert chosen[0].why == PINNED_WHY


def test_the_why_names_what_each_platform_counts_and_says_when_most_had_nothing() -> None:
    items = [post(1, replies=12, reposts=30, likes=1), post(2), post(3)]
    (only,) = choose(items, labels=LABELS, when="during the event")
    assert only.why == (
        "12 replies, 30 boosts, 1 like; the typical Mastodon post during the event had none"
    )
    x = [post(1, platform="x", replies=1, reposts=2, likes=3), post(2, platform="x", likes=2)]
    assert choose(x, labels=LABELS)[0].why.startswith("1 reply, 2 reposts, 3 likes: ")


def test_the_server_is_the_host_of_the_items_address() -> None:
    assert host(post(1, server="www.social.example")) == "social.example"
    no_url = ItemData(
        key="k",
        platform="feed",
        kind="post",
        url=None,
        author=AuthorData("a", "feed", "A"),
        html="",
        text="",
        created_at=T0,
    )
    assert host(no_url) == "feed"
