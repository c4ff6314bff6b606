"""Collections as cattle serves them: filters with modifiers, sort, limit/marker paging (§1.3)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

JSON = dict[str, Any]

DEFAULT_LIMIT = 100
MAX_LIMIT = 3000  # ParseCollectionAttributes caps here and treats limit <= 0 as the cap

# Modifiers by field type (cattle ConditionType).
STRING_MODIFIERS = ("eq", "ne", "prefix", "like", "notlike", "null", "notnull")
NUMBER_MODIFIERS = ("eq", "ne", "lt", "lte", "gt", "gte", "null", "notnull")
REFERENCE_MODIFIERS = ("eq", "ne", "null", "notnull")
ALL_MODIFIERS = frozenset(STRING_MODIFIERS + NUMBER_MODIFIERS)


def modifiers_for(field_type: str) -> tuple[str, ...]:
    if field_type in ("int", "float", "date"):
        return NUMBER_MODIFIERS
    if field_type.startswith(("reference", "enum")) or field_type == "boolean":
        return REFERENCE_MODIFIERS
    return STRING_MODIFIERS


@dataclass(frozen=True)
class Condition:
    field: str
    modifier: str
    values: tuple[str, ...]


def parse_filters(query: Mapping[str, Sequence[str]], filterable: Mapping[str, str]) -> list[Condition]:
    """``field=v`` or ``field_<modifier>=v``; unknown names are silently ignored (parseFilters)."""
    conditions: list[Condition] = []
    for key, values in query.items():
        field, modifier = key, "eq"
        if key not in filterable and "_" in key:
            head, _, tail = key.rpartition("_")
            if head in filterable and tail in ALL_MODIFIERS:
                field, modifier = head, tail
        if field not in filterable or modifier not in modifiers_for(filterable[field]):
            continue
        conditions.append(Condition(field, modifier, tuple(values)))
    return conditions


def _like(pattern: str) -> re.Pattern[str]:
    parts = [".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern]
    return re.compile("^" + "".join(parts) + "$", re.IGNORECASE | re.DOTALL)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def id_number(value: str) -> str:
    # Reference values compare by their numeric part: stackId=1e5 matches 1st5 (cattle parseId).
    match = re.match(r"^1[a-z]+(\d+)$", value)
    return match.group(1) if match else value


def matches(resource: Mapping[str, Any], cond: Condition, field_type: str) -> bool:
    value = resource.get(cond.field)
    mod = cond.modifier
    if mod == "null":
        return value is None
    if mod == "notnull":
        return value is not None
    if value is None:
        return mod in ("ne", "notlike")
    if field_type.startswith("reference") or cond.field == "id":
        have = id_number(_text(value))
        wanted = {id_number(v) for v in cond.values}
        return have in wanted if mod == "eq" else have not in wanted
    if mod in ("lt", "lte", "gt", "gte"):
        have_n = _number(value)
        if have_n is None:
            return False
        results = []
        for v in cond.values:
            want = _number(v)
            if want is None:
                results.append(False)
            elif mod == "lt":
                results.append(have_n < want)
            elif mod == "lte":
                results.append(have_n <= want)
            elif mod == "gt":
                results.append(have_n > want)
            else:
                results.append(have_n >= want)
        return any(results)
    text = _text(value)
    if mod == "eq":
        return text in cond.values
    if mod == "ne":
        return text not in cond.values
    if mod == "prefix":
        return any(text.startswith(v) for v in cond.values)
    if mod == "like":
        return any(_like(v).match(text) for v in cond.values)
    if mod == "notlike":
        return not any(_like(v).match(text) for v in cond.values)
    return True


def _sort_key(value: Any) -> tuple[int, float, str]:
    if value is None:
        return (0, 0.0, "")
    number = _number(value) if not isinstance(value, str) else None
    if number is not None:
        return (1, number, "")
    match = re.match(r"^1[a-z]+(\d+)$", str(value))
    if match:
        return (1, float(match.group(1)), "")
    return (2, 0.0, str(value))


def with_params(url_base: str, params: list[tuple[str, str]], **replace: str | None) -> str:
    """The request URL with some parameters replaced (None removes one)."""
    kept = [(k, v) for k, v in params if k not in replace]
    kept += [(k, v) for k, v in replace.items() if v is not None]
    return f"{url_base}?{urlencode(kept)}" if kept else url_base


def limit_of(raw: str | None) -> int:
    """A page's size as ParseCollectionAttributes reads `limit`: 100 by default (or when not a
    number), at most 3000, and the cap for 0 or less."""
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        return DEFAULT_LIMIT
    return MAX_LIMIT if limit <= 0 or limit > MAX_LIMIT else limit


def _query(params: list[tuple[str, str]]) -> dict[str, list[str]]:
    query: dict[str, list[str]] = {}
    for key, value in params:
        query.setdefault(key, []).append(value)
    return query


def _window(query: Mapping[str, Sequence[str | None]]) -> tuple[int, int]:
    """The page's limit and its offset (the `m<offset>` marker cattle's next links carry)."""
    limit = limit_of(query.get("limit", [None])[-1])
    marker = query.get("marker", [None])[-1]
    offset = int(marker[1:]) if marker and marker.startswith("m") and marker[1:].isdigit() else 0
    return limit, offset


def page_first(params: list[tuple[str, str]], filterable: Mapping[str, str], exact: frozenset[str],
               count: int) -> range | None:
    """Which of ``count`` resources (already narrowed exactly by the plain filters on the fields
    ``exact``, removed ones dropped, in list order) `build_collection` would put on this page, in
    the page's order, when that can be told without rendering them: no filter on another field, no
    modifier, no sort by a field. None otherwise (render them all, then filter). Rendering is what
    a list costs, so a page of 5 out of 10,000 renders 5."""
    query = _query(params)
    conditions = parse_filters(query, filterable)
    if any(c.field not in exact or c.modifier != "eq" for c in conditions):
        return None
    if query.get("sort", [None])[-1] in filterable:
        return None
    limit, offset = _window(query)
    if (query.get("order", ["asc"])[-1] or "asc").lower() == "desc":
        return range(count - 1 - offset, max(count - 1 - offset - limit, -1), -1)
    return range(offset, min(offset + limit, count))


def build_collection(
    *,
    resources: list[JSON],
    resource_type: str,
    url_base: str,
    params: list[tuple[str, str]],
    filterable: Mapping[str, str],
    create_types: Mapping[str, str],
    include_removed: bool = False,
    paged: int | None = None,
) -> JSON:
    """Filter, sort and page ``resources`` (already rendered) into a cattle collection document.

    ``paged``: ``resources`` is already the page that `page_first` chose, out of ``paged`` matching
    resources in all (the caller filtered, ordered and sliced them without rendering the rest)."""
    query = _query(params)
    conditions = parse_filters(query, filterable)
    sort_field = query.get("sort", [None])[-1]
    order = (query.get("order", ["asc"])[-1] or "asc").lower()
    limit, offset = _window(query)
    if paged is None:
        if not include_removed and not any(c.field in ("state", "removed") for c in conditions):
            resources = [r for r in resources if r.get("state") != "removed"]
        for cond in conditions:
            resources = [r for r in resources if matches(r, cond, filterable[cond.field])]
        if sort_field in filterable:
            resources = sorted(resources, key=lambda r: _sort_key(r.get(str(sort_field))), reverse=order == "desc")
        elif order == "desc":
            resources = list(reversed(resources))
        page = resources[offset : offset + limit]
        more = offset + limit < len(resources)
    else:
        page, more = resources, offset + limit < paged

    self_url = with_params(url_base, params)
    filters_doc: JSON = {name: None for name in sorted(filterable)}
    for cond in conditions:
        existing = filters_doc.get(cond.field) or []
        filters_doc[cond.field] = existing + [{"modifier": cond.modifier, "value": v} for v in cond.values]
    sort_doc: JSON | None = None
    if sort_field in filterable:
        reverse_order = "asc" if order == "desc" else "desc"
        sort_doc = {
            "name": sort_field,
            "order": order,
            "reverse": with_params(url_base, params, order=reverse_order, marker=None),
        }
    return {
        "type": "collection",
        "resourceType": resource_type,
        "links": {"self": self_url},
        "createTypes": dict(create_types),
        "actions": {},
        "data": page,
        "sortLinks": {
            name: with_params(url_base, params, sort=name, marker=None) for name in sorted(filterable)
        },
        "pagination": {
            # CollectionImpl/processPaginationResult fill only next and partial (§1.3).
            "first": None,
            "previous": None,
            "next": with_params(url_base, params, marker=f"m{offset + limit}") if more else None,
            "limit": limit,
            "total": None,
            "partial": more,
        },
        "sort": sort_doc,
        "filters": filters_doc,
        "createDefaults": {},
    }
