"""The web app's commands: ``serve``, ``admin create|password|list`` and
``config export`` (added to :mod:`aggregator.cli`'s parser)."""

from __future__ import annotations

import argparse
import gc
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from aggregator.app import App

console = Console(stderr=True)
AppFactory = Callable[[argparse.Namespace], App]


def add_parsers(sub: Any, make_app: AppFactory) -> None:
    s = sub.add_parser(
        "serve", help="the web app: public digests, embeds, the JSON API and the admin"
    )
    s.add_argument("--host", help="address to listen on (default web.host, 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default web.port, 8080)")
    s.set_defaults(func=lambda a: cmd_serve(a, make_app))

    a = sub.add_parser("admin", help="admin accounts for the web app")
    asub = a.add_subparsers(dest="admin_command", required=True)
    for name, help_ in (
        ("create", "create an admin (the first one is made here)"),
        ("password", "set an admin's password (signs them out everywhere)"),
    ):
        c = asub.add_parser(name, help=help_)
        c.add_argument("username")
        c.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from standard input instead of asking",
        )
        c.set_defaults(func=lambda a, name=name: cmd_admin_account(a, make_app, name))
    ls = asub.add_parser("list", help="the admins")
    ls.set_defaults(func=lambda a: cmd_admin_list(a, make_app))

    c = sub.add_parser("config", help="the configuration")
    csub = c.add_subparsers(dest="config_command", required=True)
    ex = csub.add_parser("export", help="the configuration as it is now (file and admin) as TOML")
    ex.add_argument("--output", "-o", help="file to write (default: standard output)")
    ex.set_defaults(func=lambda a: cmd_config_export(a, make_app))


def cmd_serve(args: argparse.Namespace, make_app: AppFactory) -> int:
    import uvicorn

    from aggregator.web import create_app

    app = make_app(args)
    web = app.settings.web
    host, port = args.host or web.host, args.port or web.port
    console.print(f"serving on http://{host}:{port}/ (admin: /admin/)")
    asgi = create_app(app)
    # What exists now (modules, the schema, compiled templates) lives as long as the
    # process: out of the collector's sight, full collections stay short and so do
    # the pauses they put into a busy server's slowest responses (benchmarks/web.py).
    gc.collect()
    gc.freeze()
    uvicorn.run(asgi, host=host, port=port, log_level="warning", access_log=False)
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def cmd_admin_account(args: argparse.Namespace, make_app: AppFactory, action: str) -> int:
    from aggregator.web.auth import hash_password

    app = make_app(args)
    name = args.username.strip()
    if not name or len(name) > 64:
        console.print("a username is 1 to 64 characters")
        return 2
    try:
        hashed = hash_password(_password(args))
    except ValueError as e:
        console.print(str(e))
        return 2
    if action == "create":
        app.store.create_admin(name, hashed, now=app.clock())
        console.print(f"admin {name!r} created; sign in at /admin/ of `aggregator serve`")
    else:
        app.store.set_admin_password(name, hashed)
        console.print(f"password of {name!r} changed")
    return 0


def cmd_admin_list(args: argparse.Namespace, make_app: AppFactory) -> int:
    for name in make_app(args).store.admin_names():
        print(name)
    return 0


def cmd_config_export(args: argparse.Namespace, make_app: AppFactory) -> int:
    from aggregator.config_export import export_toml

    app = make_app(args)
    text = export_toml(app.settings, app.store)
    if args.output:
        Path(args.output).write_text(text, "utf-8")
        console.print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0
