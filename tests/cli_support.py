"""Helpers for the command-line specs: the demo's sample conversation on loopback
servers whose simulators a test can change, a configuration file pointing at them, a
way to run ``aggregator`` in-process, and readers for what it prints."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from aggregator.cli import main
from aggregator.demo import sample
from aggregator.demo.httpserver import LoopbackServer
from aggregator.demo.mastodon_sim import MastodonSim
from aggregator.demo.run import SERVERS, SLUG, demo_config
from aggregator.demo.wordpress_sim import WordPressSite

__all__ = [
    "SLUG",
    "Result",
    "Sample",
    "parse_export",
    "run_cli",
    "sample_servers",
    "table",
]


@dataclass
class Sample:
    """The demo's sample conversation, served on loopback. The simulators stay within
    reach so a test can edit, trash or break them between commands."""

    blog: WordPressSite
    blog_server: LoopbackServer
    mastodon: dict[str, MastodonSim]
    mastodon_servers: dict[str, LoopbackServer]
    urls: dict[str, str]
    """``blog_post``, ``comment_feed`` and one per Mastodon domain, as in ``demo_servers``."""

    def config(self, folder: Path, *, extra: str = "", timezone: str | None = None) -> Path:
        """Write the demo's configuration (database and digests in ``folder``) with
        ``extra`` TOML appended (more sources, or more events)."""
        text = demo_config(self.urls, folder)
        if timezone is not None:
            text = text.replace('timezone = "Europe/London"', f'timezone = "{timezone}"')
        path = folder / "aggregator.toml"
        path.write_text(text + extra, "utf-8")
        return path

    def source_id(self, name: str) -> str:
        """``<slug>/<platform>:<target>`` of a key of ``urls`` (config/README.md)."""
        if name == "blog_post":
            return f"{SLUG}/wordpress:{self.urls[name]}"
        if name == "comment_feed":
            return f"{SLUG}/feed:{self.urls[name]}"
        return f"{SLUG}/mastodon:{urlsplit(self.urls[name]).netloc}"

    @property
    def source_ids(self) -> set[str]:
        return {self.source_id(name) for name in self.urls}

    @property
    def servers(self) -> list[LoopbackServer]:
        return [self.blog_server, *self.mastodon_servers.values()]

    def request_count(self) -> int:
        return sum(len(s.requests) for s in self.servers)


@contextlib.contextmanager
def sample_servers() -> Iterator[Sample]:
    """Like :func:`aggregator.demo.run.demo_servers`, keeping hold of the simulators."""
    site = WordPressSite.from_data(sample.wordpress_site_data())
    with contextlib.ExitStack() as stack:
        blog = stack.enter_context(LoopbackServer(site))
        post_url = site.post_url(blog.base_url, 1207)
        urls = {"blog_post": post_url, "comment_feed": post_url + "feed/atom/"}
        sims: dict[str, MastodonSim] = {}
        servers: dict[str, LoopbackServer] = {}
        for domain in SERVERS:
            sims[domain] = MastodonSim(sample.mastodon_statuses(domain, post_url), domain=domain)
            servers[domain] = stack.enter_context(LoopbackServer(sims[domain]))
            urls[domain] = servers[domain].base_url
        yield Sample(site, blog, sims, servers, urls)


@dataclass(frozen=True)
class Result:
    status: int
    out: str
    err: str


def run_cli(
    capsys: pytest.CaptureFixture[str],
    *args: str | Path,
    clock: Callable[[], datetime] | None = None,
) -> Result:
    """Run ``aggregator ARGS`` in this process; its exit status and what it printed.
    ``clock``: the app's clock (default: the real one)."""
    capsys.readouterr()  # drop whatever came before
    argv = [str(a) for a in args]
    status = main(argv) if clock is None else main(argv, clock=clock)
    out, err = capsys.readouterr()
    return Result(status, out, err)


def table(text: str) -> list[dict[str, str]]:
    """The rows of the rich table in ``text``, keyed by column heading.

    Assumes no cell wraps (the tests make the console wide with ``COLUMNS``)."""
    lines = text.splitlines()
    heading = next(line for line in lines if line.startswith("┃"))
    columns = [c.strip() for c in heading.strip("┃").split("┃")]
    return [
        dict(zip(columns, (c.strip() for c in line.strip("│").split("│")), strict=True))
        for line in lines
        if line.startswith("│")
    ]


def parse_export(text: str, fmt: str) -> list[dict[str, Any]]:
    """Rows of ``aggregator export --format jsonl|csv`` output."""
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text, newline="")))
    return [json.loads(line) for line in text.splitlines() if line.strip()]
