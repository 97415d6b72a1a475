"""Metadata filters -> one SQL condition over `items.metadata` (JSON), with bound parameters.

    {"kind": "photo"}                       equality (also {"kind": {"eq": "photo"}})
    {"tag": {"in": ["a", "b"]}}             one of
    {"year": {"gte": 2020, "lt": 2024}}     numeric ranges: gt, gte, lt, lte
    {"kind": "photo", "year": {"gt": 2020}} fields (and operators on one field) are ANDed

Equality compares whole JSON values and their types: 1 does not match true or "1", a list
field does not match one of its elements, and {"field": None} matches null or absent.
Ranges only match numbers. Field names and values are always bound parameters, never
spliced into the SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmserve.errors import InvalidRequest

RANGE_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
OPERATORS = ("eq", "in", *RANGE_OPERATORS)
MAX_IN_VALUES = 1024
NUMERIC_TYPES = "('integer', 'real')"  # json_type() names


def compile_filter(
    filters: Mapping[str, Any] | None, schema: Mapping[str, str] | None = None
) -> tuple[str, list[Any]]:
    """(SQL condition, parameters); ("1", []) when there is nothing to filter on."""
    if not filters:
        return "1", []
    if not isinstance(filters, Mapping):
        raise InvalidRequest("filter must be an object {field: value or {operator: value}}")
    clauses: list[str] = []
    params: list[Any] = []
    for field, condition in filters.items():
        path = _json_path(field)
        if not isinstance(condition, Mapping):
            condition = {"eq": condition}
        if not condition:
            raise InvalidRequest(f"filter on {field!r} has no operator", param=f"filter.{field}")
        for op, value in condition.items():
            where = f"filter.{field}.{op}"
            if op == "eq":
                clause, args = _equals(path, value, where)
            elif op == "in":
                clause, args = _one_of(path, value, where)
            elif op in RANGE_OPERATORS:
                _check_numeric_field(field, (schema or {}).get(field), where)
                clause, args = _compare(path, RANGE_OPERATORS[op], value, where)
            else:
                raise InvalidRequest(
                    f"unknown filter operator {op!r} on {field!r}; use one of "
                    + ", ".join(OPERATORS),
                    param=f"filter.{field}",
                )
            clauses.append(clause)
            params += args
    return " AND ".join(clauses), params


def _json_path(field: Any) -> str:
    # SQLite's JSON path syntax ends a quoted name at '"' and cannot hold NUL.
    if not isinstance(field, str) or not field or any(c in field for c in '"\\\x00'):
        raise InvalidRequest(
            f"filter field {field!r} must be a non-empty name without quotes, backslashes "
            "or NUL characters",
            param="filter",
        )
    return f'$."{field}"'  # quoted: dots and brackets in a name are literal, not a sub-path


def _equals(path: str, value: Any, where: str) -> tuple[str, list[Any]]:
    if value is None:
        clause = "json_type(metadata, ?) IS NULL OR json_type(metadata, ?) = 'null'"
        return f"({clause})", [path, path]
    if isinstance(value, bool):
        return "json_type(metadata, ?) = ?", [path, "true" if value else "false"]
    if isinstance(value, str):
        return "json_extract(metadata, ?) = ?", [path, value]
    if isinstance(value, int | float):
        return _compare(path, "=", value, where)
    raise InvalidRequest(
        f"{where}: compare with a string, number, boolean or null, not {type(value).__name__}",
        param=where,
    )


def _one_of(path: str, values: Any, where: str) -> tuple[str, list[Any]]:
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_IN_VALUES:
        raise InvalidRequest(f"{where} takes a list of 1 to {MAX_IN_VALUES} values", param=where)
    clauses, params = [], []
    for value in values:
        clause, args = _equals(path, value, where)
        clauses.append(f"({clause})")
        params += args
    return "(" + " OR ".join(clauses) + ")", params


def _compare(path: str, sql_op: str, value: Any, where: str) -> tuple[str, list[Any]]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{where} takes a number, got {value!r}", param=where)
    clause = f"json_type(metadata, ?) IN {NUMERIC_TYPES} AND json_extract(metadata, ?) {sql_op} ?"
    return f"({clause})", [path, path, value]


def _check_numeric_field(field: str, declared: str | None, where: str) -> None:
    if declared is not None and declared not in ("integer", "number"):
        raise InvalidRequest(
            f"{where}: range operators need a numeric field, but the collection's schema "
            f"declares {field!r} as {declared}",
            param=where,
        )
