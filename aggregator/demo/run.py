"""``aggregator demo``: the real fetchers, store and digest, against loopback servers
that serve a bundled sample conversation in each platform's wire format.

Nothing is faked in the code path except where the bytes come from: the demo writes
an ordinary configuration file pointing at the simulated servers and runs the same
app the CLI runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console

from aggregator.app import build_app
from aggregator.config import load_settings
from aggregator.demo import sample
from aggregator.demo.bluesky_sim import BlueskySim
from aggregator.demo.httpserver import LoopbackServer
from aggregator.demo.mastodon_sim import MastodonSim
from aggregator.demo.wordpress_sim import WordPressSite
from aggregator.digest.context import build_context, day_period, event_period
from aggregator.digest.render import make_environment, render

SERVERS = ("social.example", "mastodon.example")
SLUG = "copro-launch"


SERVE_PORT = 8701
"""``demo --serve`` listens on 8701 (blog), 8702 and 8703 (Mastodon) and 8704
(Bluesky), the ports config/demo.toml names; a one-shot demo takes free ports."""
BLUESKY_HANDLE = "collector.example.com"
BLUESKY_PASSWORD = "demo-demo-demo-demo"
"""The simulated account's app password. Not a secret: it opens only the simulator."""
BLUESKY_PASSWORD_ENV = "DEMO_BSKY_APP_PASSWORD"


@contextlib.contextmanager
def demo_servers(port_base: int = 0) -> Iterator[dict[str, str]]:
    """Start the simulated blog and Mastodon servers; yield their URLs.

    ``port_base`` 0 takes free ports; otherwise the blog listens on it and the
    Mastodon servers on the next ports."""
    site = WordPressSite.from_data(sample.wordpress_site_data())
    with contextlib.ExitStack() as stack:
        blog = stack.enter_context(LoopbackServer(site, port=port_base))
        post_url = site.post_url(blog.base_url, 1207)
        urls = {"blog_post": post_url, "comment_feed": post_url + "feed/atom/"}
        bluesky = sample.bluesky_posts(post_url)
        for n, domain in enumerate(SERVERS, start=1):
            statuses = sample.mastodon_statuses(domain, post_url)
            if domain == "social.example":
                statuses.append(sample.bridged_status(bluesky[sample.BRIDGED], domain))
            sim = MastodonSim(statuses, domain=domain)
            port = port_base + n if port_base else 0
            urls[domain] = stack.enter_context(LoopbackServer(sim, port=port)).base_url
        network = BlueskySim(handle=BLUESKY_HANDLE, password=BLUESKY_PASSWORD)
        for post in bluesky:
            network.add(post)
        port = port_base + len(SERVERS) + 1 if port_base else 0
        urls["bluesky"] = stack.enter_context(LoopbackServer(network, port=port)).base_url
        yield urls


def demo_config(urls: dict[str, str], folder: Path | str) -> str:
    folder = Path(folder)
    bluesky = (
        f'[[events.sources]]\nplatform = "bluesky"\nhandle = "{BLUESKY_HANDLE}"\n'
        f'service = "{urls["bluesky"]}"\n'
        f'app_password_env = "{BLUESKY_PASSWORD_ENV}"'
        f"   # the simulator takes {BLUESKY_PASSWORD}\n\n"
        if "bluesky" in urls
        else ""
    )
    mastodon = "".join(
        f'\n[[events.sources]]\nplatform = "mastodon"\ninstance = "{urls[d]}"\n' for d in SERVERS
    )
    return f"""# The demo's configuration: the sample event, collected from the loopback servers
# of `aggregator demo` (`aggregator demo --serve` keeps them on the ports named here).
[database]
url = "sqlite:///{(folder / "demo.db").as_posix()}"

[digest]
output = "{folder.as_posix()}"

[[events]]
slug = "{SLUG}"
title = "Coproduction resources launch"
hashtags = ["coproduction"]
timezone = "Europe/London"
starts = 2026-11-20
ends = 2026-11-22
lookback_days = 1
{mastodon}
{bluesky}[[events.sources]]
platform = "wordpress"
post = "{urls["blog_post"]}"

[[events.sources]]
platform = "feed"
url = "{urls["comment_feed"]}"
"""


def run_demo(folder: Path, *, serve: bool = False, console: Console | None = None) -> int:
    from aggregator.cli import print_reports

    console = console or Console()
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("demo.db*"):
        stale.unlink()
    with demo_servers(SERVE_PORT if serve else 0) as urls:
        config = folder / "demo.toml"
        config.write_text(demo_config(urls, folder), "utf-8")
        app = build_app(load_settings(config), env={BLUESKY_PASSWORD_ENV: BLUESKY_PASSWORD})
        console.print(
            f"[bold]Collecting[/] the sample #coproduction conversation from "
            f"{len(urls) - 1} loopback servers into {folder / 'demo.db'}"
        )
        print_reports(asyncio.run(app.fetch()))
        again = asyncio.run(app.fetch())
        console.print(
            f"A second pass added {sum(r.counts.new for r in again)} items "
            f"and changed {sum(r.counts.updated for r in again)}: nothing is collected twice."
        )
        event = app.store.event(SLUG)
        assert event is not None
        env = make_environment(app.settings.digest.templates)
        written = []
        periods = [event_period(event)] + [
            day_period(event, event.starts + timedelta(days=n))
            for n in range((event.ends - event.starts).days + 1)
        ]
        for period in periods:
            name = "event" if period.kind == "event" else period.first_day.isoformat()
            ctx = build_context(app.store, event, period, now=app.clock())
            for fmt in ("html", "json"):
                path = folder / SLUG / f"{name}.{fmt}"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(render(ctx, fmt, env), "utf-8")
                written.append(path)
        whole = folder / SLUG / "event.html"
        console.print(f"\n[bold green]Digest ready:[/] {whole}")
        days = [p.name for p in written if p.suffix == ".html" and p != whole]
        console.print(f"Day digests: {', '.join(days)}")
        console.print(f"Configuration used: {config}")
        app.store.close()
        if serve:
            console.print(
                "Serving the simulated platforms; Ctrl-C to stop. In another terminal: "
                f"{BLUESKY_PASSWORD_ENV}={BLUESKY_PASSWORD} aggregator -c config/demo.toml fetch"
            )
            for name, url in urls.items():
                console.print(f"  {name}: {url}")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    return 0


__all__ = ["date", "demo_config", "demo_servers", "run_demo"]
