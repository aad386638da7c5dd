"""Statements run many times with different values, compiled once.

SQLAlchemy compiles a statement on every execution; for the small statements a
collection pass repeats for every source (upserts of a page's rows, key lookups)
compiling cost more than writing the rows. Each is compiled once per dialect, under a
key its caller gives, and sent to the driver as it is, with the dialect's own bind
processors applied to the values (JSON, datetimes) and no result processing.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, CursorResult, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

BATCH = 500
"""Rows per statement (and values per IN list)."""

Upsert = sqlite.Insert | postgresql.Insert


@dataclass(frozen=True, slots=True)
class _Prepared:
    sql: str
    positional: bool
    names: list[str]
    get: Callable[[Any], Any] | None
    """The statement's parameters from a row, in order (``None``: the row as it is)."""
    convert: list[tuple[int, Callable[[Any], Any]]]


# Per dialect (its JSON serializer is part of the bind processors), per statement and
# column set: compiling costs more than a poll's rows take to write.
_PREPARED: weakref.WeakKeyDictionary[
    Dialect, dict[tuple[str, tuple[str, ...], bool], _Prepared]
] = weakref.WeakKeyDictionary()


def _prepare(
    stmt: ClauseElement, dialect: Dialect, columns: Sequence[str], *, by_name: bool
) -> _Prepared:
    compiled = cast(SQLCompiler, stmt.compile(dialect=dialect, column_keys=list(columns)))
    procs = cast(Mapping[str, Callable[[Any], Any]], compiled._bind_processors)
    names: list[str] = list(compiled.positiontup or compiled.binds)
    positional = compiled.positiontup is not None
    get: Callable[[Any], Any] | None
    if by_name:
        get = itemgetter(*names)
    elif positional and names == list(columns):
        get = None
    else:
        get = itemgetter(*(columns.index(n) for n in names))
    return _Prepared(
        sql=str(compiled),
        positional=positional,
        names=names,
        get=get,
        convert=[(i, procs[n]) for i, n in enumerate(names) if n in procs],
    )


def _prepared(
    conn: Connection,
    stmt: ClauseElement | Callable[[Connection], ClauseElement],
    columns: Sequence[str],
    key: str | None,
    *,
    by_name: bool,
) -> _Prepared:
    if key is None:
        built = stmt if isinstance(stmt, ClauseElement) else stmt(conn)
        return _prepare(built, conn.dialect, columns, by_name=by_name)
    cache = _PREPARED.setdefault(conn.dialect, {})
    cache_key = (key, tuple(columns), by_name)
    prepared = cache.get(cache_key)
    if prepared is None:
        built = stmt if isinstance(stmt, ClauseElement) else stmt(conn)
        prepared = cache[cache_key] = _prepare(built, conn.dialect, columns, by_name=by_name)
    return prepared


def executemany(
    conn: Connection,
    stmt: ClauseElement | Callable[[Connection], ClauseElement],
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str | None = None,
) -> None:
    """``conn.execute(stmt, rows)`` for many rows, minus SQLAlchemy's per-row overhead.

    SQLAlchemy's generic parameter handling costs more than SQLite's own insert
    (benchmarks/ingest.py). The statement is compiled once by SQLAlchemy for this
    dialect, its own bind processors convert the values, and the driver's
    ``executemany`` runs it: same SQL, same conversions, a tight loop. With ``key``
    (naming what ``stmt`` builds, which may then be a function of the connection),
    the compiled form is kept for the next call with the same columns.
    """
    if not rows:
        return
    # Column defaults are not applied on this path: rows must carry every column.
    _run_many(conn, _prepared(conn, stmt, list(rows[0]), key, by_name=True), rows)


def executemany_values(
    conn: Connection,
    stmt: ClauseElement | Callable[[Connection], ClauseElement],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    key: str,
) -> None:
    """:func:`executemany` for rows given as tuples of ``columns``, in that order: the
    ingest path's rows, which need no dictionary per row."""
    if rows:
        _run_many(conn, _prepared(conn, stmt, columns, key, by_name=False), rows)


_UNSEEN = object()


def _run_many(conn: Connection, prepared: _Prepared, rows: Sequence[Any]) -> None:
    get, names, positional = prepared.get, prepared.names, prepared.positional
    single = get is not None and len(names) == 1
    # A bind processor is a function of its value, and a value repeats down a column
    # (the batch's ``now``, a missing ``edited_at``): one object seen in consecutive
    # rows is converted once. Compared by identity, which is safe for any value (none
    # changes while the rows are read).
    convert = [(i, j, proc) for j, (i, proc) in enumerate(prepared.convert)]
    seen: list[Any] = [_UNSEEN] * len(convert)
    done: list[Any] = [None] * len(convert)
    params: list[Any] = []
    for row in rows:
        values = list(row) if get is None else [get(row)] if single else list(get(row))
        for i, j, proc in convert:
            value = values[i]
            if value is seen[j]:
                values[i] = done[j]
            else:
                seen[j] = value
                values[i] = done[j] = proc(value)
        params.append(tuple(values) if positional else dict(zip(names, values, strict=True)))
    conn.exec_driver_sql(prepared.sql, params)


def execute(
    conn: Connection,
    stmt: Callable[[Connection], ClauseElement],
    params: Mapping[str, Any],
    *,
    key: str,
) -> CursorResult[Any]:
    """A statement run often with different values (no expanding ``IN``), compiled once
    per dialect as :func:`executemany` does; the driver's rows come back as they are
    (no result processing: for plain numbers and strings)."""
    prepared = _prepared(conn, stmt, list(params), key, by_name=True)
    values = [params[n] for n in prepared.names]
    for i, proc in prepared.convert:
        values[i] = proc(values[i])
    args = tuple(values) if prepared.positional else dict(zip(prepared.names, values, strict=True))
    return conn.exec_driver_sql(prepared.sql, args)


def select_in(
    conn: Connection,
    columns: Sequence[ColumnElement[Any]],
    where: ColumnElement[Any],
    values: Sequence[Any],
    *,
    key: str,
) -> list[Sequence[Any]]:
    """``SELECT columns WHERE where IN values`` (in chunks of :data:`BATCH`), each
    chunk's statement compiled once. A list longer than a page of a typical source is
    padded with its last value to a multiple of 32, so a few dozen statements serve
    every length (each padding value costs a lookup). As for :func:`execute`, the
    driver's values come back unprocessed (for plain numbers and strings)."""
    out: list[Sequence[Any]] = []
    for start in range(0, len(values), BATCH):
        chunk = values[start : start + BATCH]
        size = len(chunk) if len(chunk) <= 64 else -(-len(chunk) // 32) * 32
        params = {f"v{i}": chunk[min(i, len(chunk) - 1)] for i in range(size)}

        def build(_conn: Connection, size: int = size) -> ClauseElement:
            binds = [bindparam(f"v{i}", type_=where.type) for i in range(size)]
            return select(*columns).where(where.in_(binds))

        out += execute(conn, build, params, key=f"{key}:{size}")
    return out


def dialect_insert(conn: Connection, table: Table) -> Upsert:
    """INSERT with the dialect's ON CONFLICT support (both spell it the same)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
