"""Database helpers: rows read by plain SQL turned into model instances; background jobs' connection reset."""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)
_CONVERTERS: dict[tuple[type[models.Model], str], list[tuple[list[Any], Any]]] = {}


@cache  # a handful of (model, alias) pairs, asked for on every claim and submit
def columns(model: type[models.Model], alias: str) -> str:
    """Every concrete column of ``model`` in field order (``alias."column", ...``), for ``model_from_row``."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


@cache
def _attnames(model: type[models.Model]) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


def model_from_row(model: type[M], values: Any) -> M:
    """A saved instance from the values of ``columns(model)``, converted as the ORM converts them.

    For the request hot paths (queue claim and submit, token auth, project lookup): ``Model.objects.raw``
    resolves the columns against the model on every query (~0.2 ms of CPU each on a 2-core machine), and
    one statement here may return two models' rows side by side.
    """
    key = (model, connection.vendor)
    converters = _CONVERTERS.get(key)
    if converters is None:
        converters = []
        for f in model._meta.concrete_fields:
            col = f.get_col(model._meta.db_table)
            converters.append((connection.ops.get_db_converters(col) + col.get_db_converters(connection), col))
        _CONVERTERS[key] = converters
    row = list(values)
    for n, (functions, col) in enumerate(converters):
        for function in functions:
            row[n] = function(row[n], col, connection)
    return model.from_db(connection.alias, _attnames(model), row)


def connection_reset_if_dropped() -> None:
    """After a failure that may have been the connection itself (terminated backend, server restart),
    close a dead connection so the job's failure can still be written: Django reconnects on the next
    query and never reuses a dead one. Inside a caller's transaction nothing can be saved by
    reconnecting, so it is left alone."""
    if connection.in_atomic_block or connection.connection is None:
        return
    if not connection.is_usable():
        connection.close()
