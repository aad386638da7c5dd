"""``aggregator``: a thin command line over the library."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from aggregator import __version__
from aggregator.app import App, build_app, utcnow
from aggregator.config import find_config, load_settings
from aggregator.digest.render import FORMATS
from aggregator.exceptions import ConfigError, StoreError
from aggregator.models import MODERATION_ACTIONS, ConsentPolicy, ModerationRecord, RunReport
from aggregator.optouts import BadRule, OptOutRule, parse_rule
from aggregator.store import EventRecord
from aggregator.web_cli import add_parsers as add_web_parsers

console = Console(stderr=True)
out = Console()


def main(argv: Sequence[str] | None = None, *, clock: Callable[[], datetime] = utcnow) -> int:
    """Run ``aggregator ARGV``; ``clock`` is the app's (tests fix it)."""
    parser = _parser()
    args = parser.parse_args(argv)
    args.clock = clock
    logging.basicConfig(
        level=logging.DEBUG
        if args.verbose > 1
        else logging.INFO
        if args.verbose
        else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except ConfigError as e:
        # soft_wrap: one message stays one line in logs, whatever the terminal width.
        console.print(f"[red]configuration error:[/] {e}", highlight=False, soft_wrap=True)
        return 2
    except StoreError as e:
        console.print(f"[red]database error:[/] {e}", highlight=False, soft_wrap=True)
        return 3


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aggregator", description=__doc__)
    p.add_argument(
        "--config",
        "-c",
        help="configuration file (default: aggregator.toml, "
        "config/aggregator.toml, or $AGGREGATOR_CONFIG)",
    )
    p.add_argument("--verbose", "-v", action="count", default=0, help="more logging (-vv: debug)")
    p.add_argument("--version", action="version", version=f"aggregator {__version__}")
    sub = p.add_subparsers(dest="command")

    f = sub.add_parser("fetch", help="fetch every source (or one event's, or one) now")
    f.add_argument("--event", help="only this event's sources")
    f.add_argument("--source", help="only this source id (see `aggregator sources`)")
    f.add_argument("--due", action="store_true", help="only sources whose next check is due")
    f.set_defaults(func=cmd_fetch)

    d = sub.add_parser("digest", help="render a digest of an event or of one day of it")
    d.add_argument("slug")
    d.add_argument("--date", type=date.fromisoformat, help="one day (YYYY-MM-DD, event time zone)")
    d.add_argument(
        "--format",
        default="html",
        choices=[*FORMATS, "atom"],
        help="atom: the Atom feed of the event's daily digests, every day that is over",
    )
    d.add_argument(
        "--base-url",
        help="where the digest output folder is published (links between formats; "
        "required by --format oembed; for atom, default delivery.base_url)",
    )
    d.add_argument("--output", "-o", help="file to write (default: under digest.output)")
    d.set_defaults(func=cmd_digest)

    e = sub.add_parser("export", help="export every stored item of an event")
    e.add_argument("slug")
    e.add_argument(
        "--format",
        default="jsonl",
        choices=["jsonl", "csv", "methods"],
        help="items as JSON Lines or CSV, or only the methods note (Markdown)",
    )
    e.add_argument("--output", "-o", help="file to write (default: standard output)")
    e.add_argument(
        "--methods",
        action="store_true",
        help="with --output, also write the methods note beside it (FILE.methods.md)",
    )
    e.set_defaults(func=cmd_export)

    s = sub.add_parser("sources", help="each source's health")
    s.add_argument("--event")
    s.add_argument(
        "--json",
        action="store_true",
        help="JSON: last success and error, failures in a row, rate-limit headroom, "
        "next check, the worker fetching it",
    )
    s.set_defaults(func=cmd_sources)

    r = sub.add_parser(
        "run", help="the long-running collector: fetch sources as they come due (Ctrl-C stops)"
    )
    # Also accepted after `run`, where service managers tend to put it.
    r.add_argument("--config", "-c", default=argparse.SUPPRESS, help="configuration file")
    r.add_argument("--worker-id", help="this worker's name in leases (default: host:pid)")
    r.add_argument("--once", action="store_true", help="fetch what is due once, then exit")
    r.add_argument("--health-port", type=int, help="serve GET /healthz on 127.0.0.1 at this port")
    r.set_defaults(func=cmd_run)

    o = sub.add_parser("optout", help="people or servers whose posts are never kept")
    os_ = o.add_subparsers(dest="optout_command", required=True)
    add = os_.add_parser("add", help="add to the opt-out list and remove what was stored")
    add.add_argument(
        "who",
        help="@name@server, @handle.bsky.social, a profile URL, an "
        "author key (platform:…) or a domain (social.example)",
    )
    add.add_argument("--reason", help="why (kept with the rule, never published)")
    add.add_argument("--by", default=os.environ.get("USER", "admin"), help="who decided")
    add.set_defaults(func=cmd_optout_add)
    rm = os_.add_parser("remove", help="remove from the opt-out list (nothing is restored)")
    rm.add_argument("who")
    rm.set_defaults(func=cmd_optout_remove)
    ls = os_.add_parser("list", help="the opt-out list")
    ls.set_defaults(func=cmd_optout_list)

    _moderate_parser(sub)

    imp = sub.add_parser("import", help="import posts from files")
    isub = imp.add_subparsers(dest="import_command", required=True)
    ix = isub.add_parser(
        "x", help="an X archive (.zip or data/tweets.js) or an API v2 export (JSON / JSON Lines)"
    )
    ix.add_argument("file")
    ix.add_argument("--event", required=True)
    ix.set_defaults(func=cmd_import_x)

    _deliver_parsers(sub)
    add_web_parsers(sub, _app)

    db = sub.add_parser("db", help="database maintenance")
    dbs = db.add_subparsers(dest="db_command", required=True)
    up = dbs.add_parser("upgrade", help="apply schema migrations")
    up.set_defaults(func=cmd_db_upgrade)

    demo = sub.add_parser(
        "demo",
        help="collect a bundled sample conversation from loopback "
        "servers and render its digest (no internet needed)",
    )
    demo.add_argument("--output", "-o", default="demo-output", help="folder for the demo's files")
    demo.add_argument(
        "--serve", action="store_true", help="keep the simulated platforms running until Ctrl-C"
    )
    demo.set_defaults(func=cmd_demo)
    return p


def _app(args: argparse.Namespace) -> App:
    path = find_config(args.config, os.environ)
    settings = load_settings(path)
    return build_app(settings, clock=args.clock)


def cmd_fetch(args: argparse.Namespace) -> int:
    app = _app(args)
    sources = app.store.sources(event=args.event, source_id=args.source)
    if not sources:
        asked = " ".join(
            f"{k} {v!r}" for k, v in (("event", args.event), ("source", args.source)) if v
        )
        known = ", ".join(s.spec.id for s in app.store.sources()) or "none configured"
        console.print(
            f"no sources match {asked or 'the configuration'}; "
            f"see `aggregator sources` (known: {known})",
            soft_wrap=True,
        )
        return 1
    reports = run_fetch(
        app, event=args.event, source_id=args.source, only_due=args.due, total=len(sources)
    )
    print_reports(reports)
    return 0 if all(r.error is None for r in reports) else 1


def run_fetch(
    app: App, *, event: str | None, source_id: str | None, only_due: bool, total: int
) -> list[RunReport]:
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("fetching", total=total)
        return asyncio.run(
            app.fetch(
                event=event,
                source_id=source_id,
                only_due=only_due,
                on_done=lambda _r: progress.advance(task),
            )
        )


def print_reports(reports: Sequence[RunReport]) -> None:
    table = Table(title="fetch")
    # Source ids are never shortened: people copy them into `fetch --source`.
    table.add_column("source", overflow="fold")
    for col in ("fetched", "new", "updated", "deleted", "left out"):
        table.add_column(col, justify="right")
    table.add_column("result", overflow="fold")
    for r in sorted(reports, key=lambda r: r.source_id):
        result = f"[red]{r.error}[/]" if r.error else "not modified" if r.not_modified else "ok"
        table.add_row(
            r.source_id,
            str(r.fetched),
            str(r.counts.new),
            str(r.counts.updated),
            str(r.counts.deleted),
            str(sum(r.excluded.values())),
            result,
        )
    out.print(table)


def cmd_digest(args: argparse.Namespace) -> int:
    from aggregator.digest.context import build_context, day_period, event_period
    from aggregator.digest.render import make_environment, published_path, render

    if args.format == "oembed" and not args.base_url:
        console.print("--format oembed needs --base-url (where the embed is published)")
        return 2
    if args.format == "atom" and args.date:
        console.print("--format atom is the feed of every daily digest: it takes no --date")
        return 2
    app = _app(args)
    event = app.store.event(args.slug)
    if event is None:
        console.print(
            f"no event {args.slug!r}; configured: " + ", ".join(e.slug for e in app.store.events())
        )
        return 1
    if args.format == "atom":
        return _digest_feed(app, event, args)
    period = day_period(event, args.date) if args.date else event_period(event)
    context = build_context(app.store, event, period, now=app.clock())
    env = make_environment(app.settings.digest.templates)
    text = render(context, args.format, env, base_url=args.base_url)
    if args.format == "oembed" and not args.output:
        sys.stdout.write(text)
        return 0
    target = (
        Path(args.output)
        if args.output
        else app.settings.digest.output / published_path(context, args.format)
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, "utf-8")
    out.print(f"{context.totals.items} items -> {target}")
    return 0


def _digest_feed(app: App, event: EventRecord, args: argparse.Namespace) -> int:
    from aggregator.deliver.atom import FEED_NAME
    from aggregator.deliver.jobs import event_feed, feed_days
    from aggregator.digest.render import make_environment

    days = feed_days(app, event)
    env = make_environment(app.settings.digest.templates)
    text = event_feed(app, event, days, env, base_url=args.base_url)
    # Where the archive writes it, so the two never disagree about the address.
    target = (
        Path(args.output) if args.output else app.settings.digest.output / event.slug / FEED_NAME
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, "utf-8")
    out.print(f"{len(days)} daily digests -> {target}", soft_wrap=True)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from aggregator.export import write_csv, write_jsonl

    app = _app(args)
    if app.store.event(args.slug) is None:
        console.print(f"no event {args.slug!r}")
        return 1
    if args.format == "methods" or (args.methods and args.output):
        note = _methods(app, args.slug)
        if args.format == "methods":
            if args.output:
                Path(args.output).write_text(note, "utf-8")
                console.print(f"methods note -> {args.output}")
            else:
                sys.stdout.write(note)
            return 0
        Path(args.output + ".methods.md").write_text(note, "utf-8")
        console.print(f"methods note -> {args.output}.methods.md")
    writer = write_csv if args.format == "csv" else write_jsonl
    views = app.store.iter_items(args.slug)
    # Hidden by the organisers means hidden in every output, exports included.
    moderation = app.store.moderation(args.slug)
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as fh:
            n = writer(views, fh, moderation)
        console.print(f"{n} items -> {args.output}")
    else:
        writer(views, sys.stdout, moderation)
    return 0


def _methods(app: App, slug: str) -> str:
    from aggregator.app import horizon
    from aggregator.methods import methods_note

    event = app.store.event(slug)
    assert event is not None
    configured = next((e for e in app.settings.events if e.slug == slug), None)
    consent = configured.consent.policy() if configured else ConsentPolicy()
    return methods_note(app.store, event, consent=consent, horizon=horizon(event), now=app.clock())


def cmd_run(args: argparse.Namespace) -> int:
    from aggregator.service import default_worker_id, delivery_jobs, serve

    app = _app(args)
    return asyncio.run(
        serve(
            app,
            worker=args.worker_id or default_worker_id(),
            jobs=delivery_jobs(),
            once=args.once,
            health_port=args.health_port,
        )
    )


def cmd_sources(args: argparse.Namespace) -> int:
    app = _app(args)
    if args.json:
        import orjson

        from aggregator.service.health import as_json, source_reports

        reports = source_reports(app.store, app.clock(), args.event)
        sys.stdout.write(
            orjson.dumps([as_json(r) for r in reports], option=orjson.OPT_INDENT_2).decode() + "\n"
        )
        return 0
    table = Table(title="sources")
    table.add_column("source", overflow="fold")
    for col in ("items", "last success", "errors", "last error", "next check"):
        table.add_column(col, overflow="fold")
    for h in app.store.health(args.event):
        if not h.enabled:
            continue
        table.add_row(
            h.id,
            str(h.items),
            _when(h.last_success_at),
            str(h.error_count),
            h.last_error or "",
            _when(h.next_check_at),
        )
    out.print(table)
    return 0


def _rule(text: str) -> OptOutRule | None:
    try:
        return parse_rule(text)
    except BadRule as e:
        console.print(f"[red]{e}[/]", highlight=False, soft_wrap=True)
        return None


def cmd_optout_add(args: argparse.Namespace) -> int:
    rule = _rule(args.who)
    if rule is None:
        return 2
    app = _app(args)
    purged = app.store.add_optout(rule, reason=args.reason, by=args.by, now=app.clock())
    out.print(
        f"opted out {rule.kind} {rule.value}: {purged} stored items removed; "
        "later fetches leave them out",
        soft_wrap=True,
    )
    return 0


def cmd_optout_remove(args: argparse.Namespace) -> int:
    rule = _rule(args.who)
    if rule is None:
        return 2
    app = _app(args)
    if not app.store.remove_optout(rule):
        console.print(f"{rule.kind} {rule.value} is not on the opt-out list", soft_wrap=True)
        return 1
    out.print(
        f"removed {rule.kind} {rule.value} from the opt-out list "
        "(removed items come back only if their sources still show them)",
        soft_wrap=True,
    )
    return 0


def cmd_optout_list(args: argparse.Namespace) -> int:
    app = _app(args)
    table = Table(title="opt-out list")
    for col in ("kind", "value", "reason", "by", "since"):
        table.add_column(col, overflow="fold")
    for row in app.store.optout_list():
        table.add_row(
            row["kind"],
            row["value"],
            row["reason"] or "",
            row["created_by"],
            _when(row["created_at"]),
        )
    out.print(table)
    return 0


# `moderate ACTION TARGET`: item actions as the store names them, author actions suffixed.
MODERATE_ACTIONS = {a: ("item", a) for a in MODERATION_ACTIONS["item"]} | {
    f"{a}-author": ("author", a) for a in MODERATION_ACTIONS["author"]
}


def _moderate_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    m = sub.add_parser(
        "moderate",
        help="hide, show, pin or feature an item, hide an author; `log` shows the decisions",
    )
    m.add_argument("slug")
    m.add_argument("action", choices=[*MODERATE_ACTIONS, "log"])
    m.add_argument(
        "target",
        nargs="?",
        help="an item key or address; for *-author: an author key, @name@server, "
        "name.bsky.social or a profile URL",
    )
    m.add_argument("--reason", help="why (kept in the log)")
    m.add_argument("--by", help="who decided (default: your user name)")
    m.set_defaults(func=cmd_moderate)


def cmd_moderate(args: argparse.Namespace) -> int:
    if (args.action == "log") != (args.target is None):
        wanted = "takes no target" if args.action == "log" else "needs a target"
        console.print(f"[red]moderate {args.action} {wanted}[/]", highlight=False)
        return 2
    app = _app(args)
    if app.store.event(args.slug) is None:
        console.print(f"no event {args.slug!r}", soft_wrap=True)
        return 1
    if args.action == "log":
        return _moderation_log(app, args.slug)
    kind, action = MODERATE_ACTIONS[args.action]
    find = app.store.find_items if kind == "item" else app.store.find_authors
    keys = find(args.slug, args.target)
    if not keys:
        looked_for = (
            "item with that key or address"
            if kind == "item"
            else "author with that key, handle or profile address"
        )
        console.print(
            f"[red]{args.target!r}:[/] event {args.slug} has no {looked_for}; "
            f"`aggregator export {args.slug} --format csv` lists its items' "
            "key, url, author_handle and author_url",
            highlight=False,
            soft_wrap=True,
        )
        return 2
    by = args.by or _user()
    now = app.clock()
    for key in keys:
        app.store.moderate(ModerationRecord(args.slug, kind, key, action, args.reason, by, now))
        out.print(f"{args.action} {key}", highlight=False, soft_wrap=True)
    return 0


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment or the passwd file
        return "unknown"


def _moderation_log(app: App, slug: str) -> int:
    table = Table(title=f"moderation of {slug}")
    for col in ("when", "who", "action", "target", "why"):
        table.add_column(col, overflow="fold")
    for r in app.store.moderation_log(slug):
        action = r.action if r.target_kind == "item" else f"{r.action}-author"
        table.add_row(_when(r.decided_at), r.decided_by, action, r.target, r.reason or "")
    out.print(table)
    return 0


def cmd_import_x(args: argparse.Namespace) -> int:
    from aggregator.exceptions import ParseError
    from aggregator.x_import import import_items

    app = _app(args)
    try:
        report = import_items(app.store, args.event, Path(args.file), app.clock())
    except ParseError as e:
        console.print(f"[red]cannot import:[/] {e}", highlight=False, soft_wrap=True)
        return 1
    except OSError as e:
        console.print(f"[red]cannot read {args.file}:[/] {e}", highlight=False, soft_wrap=True)
        return 1
    out.print(
        f"{report.kept} of {report.read} posts kept ({report.counts.new} new, "
        f"{report.counts.updated} updated) -> {report.source_id}",
        soft_wrap=True,
    )
    if report.skipped:
        out.print("left out: " + ", ".join(f"{k} {v}" for k, v in sorted(report.skipped.items())))
    return 0


def _deliver_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser(
        "deliver", help="deliver the daily digests due now (or one day's) by e-mail and archive"
    )
    d.add_argument("--event", help="only this event")
    d.add_argument(
        "--date", type=date.fromisoformat, help="this local day (YYYY-MM-DD), due or not"
    )
    d.add_argument("--channel", choices=["email", "archive"], help="only this channel")
    d.add_argument(
        "--force", action="store_true", help="with --date: deliver again what was delivered"
    )
    d.set_defaults(func=cmd_deliver)
    a = sub.add_parser("archive", help="(re)write the static archive of the daily digests")
    a.add_argument("--event", help="only this event (and the front page)")
    a.set_defaults(func=cmd_archive)


def cmd_deliver(args: argparse.Namespace) -> int:
    from aggregator.deliver.jobs import active_channels, default_worker, deliver, deliver_due

    if args.force and not args.date:
        console.print("[red]--force needs --date[/] (one day, delivered again)", highlight=False)
        return 2
    app = _app(args)
    if args.event and app.store.event(args.event) is None:
        console.print(f"no event {args.event!r}", soft_wrap=True)
        return 1
    if args.channel and args.channel not in active_channels(app.settings):
        console.print(
            f"[red]{args.channel} is not configured:[/] see [delivery] channels and [email] "
            "in config/README.md",
            highlight=False,
            soft_wrap=True,
        )
        return 2
    channels = [args.channel] if args.channel else None
    worker = "cli:" + default_worker()
    if args.date:
        slugs = [args.event] if args.event else [e.slug for e in app.store.events()]
        outcomes = [
            o
            for slug in slugs
            for o in deliver(app, worker, slug, args.date, channels=channels, force=args.force)
        ]
    else:
        outcomes = deliver_due(app, worker, event=args.event, channels=channels)
    table = Table(title="deliveries")
    for col in ("event", "day", "channel", "result", "detail"):
        table.add_column(col, overflow="fold")
    for o in outcomes:
        colour = {"sent": "green", "failed": "red"}.get(o.status, "default")
        table.add_row(o.event, o.day.isoformat(), o.channel, f"[{colour}]{o.status}[/]", o.detail)
    out.print(table if outcomes else "nothing due")
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def cmd_archive(args: argparse.Namespace) -> int:
    from aggregator.deliver.jobs import write_archive

    app = _app(args)
    if args.event and app.store.event(args.event) is None:
        console.print(f"no event {args.event!r}", soft_wrap=True)
        return 1
    written = write_archive(app, event=args.event)
    out.print(f"{written} files -> {app.settings.digest.output}", soft_wrap=True)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    app = _app(args)  # opening the store applies migrations
    out.print(f"database is current: {app.settings.database.url.split('@')[-1]}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from aggregator.demo.run import run_demo

    return run_demo(Path(args.output), serve=args.serve, console=out)


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if hasattr(value, "strftime") else "—"


if __name__ == "__main__":
    sys.exit(main())
