"""Blog discovery: a blog's post feed or tag feed adds each new post about the event and
starts following its comments, without anyone configuring each post."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

from aggregator.decisions import Schedule
from aggregator.demo.httpserver import LoopbackServer, Request, Response
from aggregator.models import DiscoveredSource, FetchResult, SourceSpec
from aggregator.sources import discovery, registry
from aggregator.store import EventRecord, Store
from aggregator.update import Updater
from tests.conftest import Clock
from tests.fakes import FakeSource, item, spec

POSTS_FEED = (
    Path(__file__).parent / "data" / "feeds" / "wp_site_posts_feed_wfw_slash.rss.xml"
).read_bytes()
EVENT = EventRecord("ev", "Event", ("velo",), "UTC", date(2026, 2, 1), date(2026, 2, 28), 30)


def article(n: int, **kw) -> object:
    base = replace(item(n, platform="wordpress", kind="article"), hashtags=())
    return replace(base, url=f"https://blog.example/p{n}/", **kw)


def test_every_post_of_a_tag_feed_is_about_the_event() -> None:
    assert discovery.about_event(
        article(1), feed_url="https://blog.example/tag/copro/feed/", hashtags=("coproduction",)
    )


def test_a_post_of_a_whole_blog_is_about_the_event_when_it_names_a_hashtag() -> None:
    feed = "https://blog.example/feed/"
    assert discovery.about_event(
        article(1, title="#Coproduction = win"), feed_url=feed, hashtags=("coproduction",)
    )
    assert discovery.about_event(
        article(2, raw={"tags": [{"term": "Coproduction"}]}),
        feed_url=feed,
        hashtags=("coproduction",),
    )
    assert not discovery.about_event(
        article(3, title="Coproductions elsewhere"), feed_url=feed, hashtags=("coproduction",)
    )


def test_wordpress_posts_are_followed_through_rest_and_others_through_their_comment_feed() -> None:
    wp = article(1)
    other = replace(
        item(2, platform="feed", kind="article"),
        url="https://other.example/post",
        raw={"wfw_commentrss": "https://other.example/post/comments.xml"},
    )
    assert discovery.comment_sources([wp, other, item(3)]) == (
        DiscoveredSource(
            "wordpress",
            {"post": "https://blog.example/p1/"},
            "comments of https://blog.example/p1/",
        ),
        DiscoveredSource(
            "feed",
            {"url": "https://other.example/post/comments.xml"},
            "comments of https://other.example/post",
        ),
    )


def run(store: Store, clock: Clock, sources) -> list:
    async def go():
        async with httpx.AsyncClient() as client:
            updater = Updater(
                store=store,
                client=client,
                clock=clock,
                schedule=Schedule(timedelta(minutes=15), timedelta(hours=1)),
                sources=sources,
            )
            return await updater.update(store.sources(event="ev"))

    return asyncio.run(go())


def test_a_discovered_source_is_followed_from_the_next_pass_and_survives_reconfiguration(
    store: Store, clock: Clock
) -> None:
    found = DiscoveredSource("wordpress", {"post": "https://blog.example/p1/"}, "comments of p1")
    fake = FakeSource()
    fake.script.append(FetchResult(items=(article(1),), state={}, discovered=(found,)))
    store.sync_event(EVENT, [spec()], clock())
    sources = {"fake": fake, "wordpress": registry()["wordpress"]}
    (report,) = run(store, clock, sources)
    assert report.discovered == 1
    ids = sorted(s.spec.id for s in store.sources(event="ev"))
    assert ids == ["ev/fake:one", "ev/wordpress:https://blog.example/p1/"]
    store.sync_event(EVENT, [spec()], clock())  # the file never named it: it stays
    assert len(store.sources(event="ev")) == 2
    (health,) = [h for h in store.health("ev") if h.platform == "wordpress"]
    assert health.enabled


def test_a_discovered_source_the_platform_refuses_is_skipped(store: Store, clock: Clock) -> None:
    bad = DiscoveredSource("feed", {"url": "ftp://blog.example/comments"}, "comments of p1")
    fake = FakeSource()
    fake.script.append(FetchResult(items=(), state={}, discovered=(bad,)))
    store.sync_event(EVENT, [spec()], clock())
    (report,) = run(store, clock, {"fake": fake, "feed": registry()["feed"]})
    assert (report.error, report.discovered) == (None, 0)


def test_a_blogs_post_feed_keeps_posts_about_the_event_and_follows_their_comments(
    store: Store,
) -> None:
    def app(_request: Request) -> Response:
        return Response(200, {"Content-Type": "application/rss+xml"}, POSTS_FEED)

    clock = Clock(datetime(2026, 2, 12, tzinfo=UTC))
    with LoopbackServer(app) as server:
        feed = SourceSpec(
            f"ev/feed:{server.base_url}/feed/",
            "ev",
            "feed",
            f"{server.base_url}/feed/",
            ("hiver",),
            {"url": f"{server.base_url}/feed/", "kind": "auto"},
        )
        store.sync_event(EVENT, [feed], clock())
        (report,) = run(store, clock, registry())
    assert report.error is None
    articles = [v.item for v in store.items("ev")]
    assert [a.title for a in articles] == ["Vélo-cargo en hiver\xa0: 5 leçons apprises"]
    followed = [s.spec for s in store.sources(event="ev") if s.spec.platform == "wordpress"]
    assert [s.options["post"] for s in followed] == [
        "https://blog.example.fr/2026/02/velo-cargo-hiver/"
    ]
