"""v3 collections as norman serves them: filters with modifiers, sort, `limit`/`marker` paging.

norman parse/collection.go reads the query: `limit` (default 1000, at most 10000, `-1` for the cap;
anything else unreadable or below 0 keeps the default), `marker` (an item's id), `sort` (a field
with a filter, else id) and `order`, and one condition per `field` or `field_<modifier>` the schema
has a collection filter for; other parameters are ignored. The filters and their modifiers come from
the field types (types/reflection.go setupFilters: string, enum, int, date and reference fields take
eq, ne, in and notin; booleans eq and ne), the conditions from types/condition.go (`in` and `notin`
over every value the parameter is given). api/handler/query.go ApplyQueryOptions then filters, sorts
by the field's text and cuts one page starting at the marker's item; api/writer/json.go and
urlbuilder/url.go Marker put `first`, `previous`, `next` and `last` as the request's URL with
`marker=<id>` while the page is partial.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from rancher_deploy.simulator.rancher2.workloads.objects import JSON

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10000
MODIFIERS = ("eq", "ne", "in", "notin")


def filters_of(fields: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """A schema's collection filters from its field types (norman types/reflection.go setupFilters)."""
    found: dict[str, tuple[str, ...]] = {}
    for name, kind in fields.items():
        if kind in ("string", "enum", "int", "date", "dnsLabel", "hostname") or kind.startswith("reference["):
            found[name] = MODIFIERS
        elif kind == "boolean":
            found[name] = ("eq", "ne")
    return found


@dataclass(frozen=True)
class Condition:
    field: str
    modifier: str
    values: tuple[str, ...]

    def holds(self, item: JSON) -> bool:
        text = _text(item.get(self.field))
        if self.modifier == "eq":
            return text == self.values[0]
        if self.modifier == "ne":
            return text != self.values[0]
        return (text in self.values) == (self.modifier == "in")

    def shown(self) -> JSON:
        """The condition as the collection's `filters` lists it (Condition.ToCondition)."""
        value: Any = self.values[0] if self.modifier in ("eq", "ne") else list(self.values)
        return {"modifier": self.modifier, "value": value}


def _text(value: Any) -> str:
    """norman convert.ToString: Go's formatting of a JSON value, "" for none."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def conditions(params: Sequence[tuple[str, str]], filters: dict[str, tuple[str, ...]]) -> list[Condition]:
    """parse/collection.go parseFilters: `name_op` splits at the last `_` after the first character."""
    values: dict[str, list[str]] = {}
    for key, value in params:
        values.setdefault(key, []).append(value)
    found = []
    for key, given in values.items():
        cut = key.rfind("_")
        field, modifier = (key[:cut], key[cut + 1:]) if cut > 0 else (key, "eq")
        if modifier in filters.get(field, ()):
            found.append(Condition(field, modifier, tuple(given)))
    return found


def limit_of(text: str | None) -> int:
    """parse/collection.go parsePagination."""
    try:
        asked = int(text) if text else None
    except ValueError:
        return DEFAULT_LIMIT
    if asked is None:
        return DEFAULT_LIMIT
    if asked > MAX_LIMIT or asked == -1:
        return MAX_LIMIT
    return asked if asked >= 0 else DEFAULT_LIMIT


def page(data: list[JSON], params: Sequence[tuple[str, str]], filters: dict[str, tuple[str, ...]],
         url: str) -> tuple[list[JSON], JSON, JSON, JSON]:
    """(the page, `pagination`, `filters`, `sort`) of ``data`` for a GET at ``url`` (no query) with ``params``."""
    query = dict(params)
    wanted = conditions(params, filters)
    data = [item for item in data if all(c.holds(item) for c in wanted)]
    sort_field = query.get("sort", "") if query.get("sort", "") in filters else ""
    descending = query.get("order") == "desc"
    data = sorted(data, key=lambda item: _text(item.get(sort_field or "id")), reverse=descending)
    limit, marker = limit_of(query.get("limit")), query.get("marker", "")
    start = next((n for n, item in enumerate(data) if marker and item.get("id") == marker), 0)
    end = min(start + limit, len(data))
    pagination: JSON = {"limit": limit, "total": len(data)}
    if marker:
        pagination["marker"] = marker

    def at(index: int) -> str:
        return _with(url, params, {"marker": str(data[index].get("id"))})

    if data and (start > 0 or end < len(data)):
        pagination["partial"] = True
        pagination["first"] = at(0)
        if max(start - limit, 0) < start:
            pagination["previous"] = at(max(start - limit, 0))
        if start < end < len(data):
            pagination["next"] = at(end)
        if 0 < len(data) - limit < len(data):
            pagination["last"] = at(len(data) - limit)
    shown: JSON = {name: None for name in filters}
    for condition in wanted:
        shown[condition.field] = [*(shown[condition.field] or []), condition.shown()]
    kept = [(key, value) for key, value in params if key != "marker"]
    sort: JSON = {"order": "desc" if descending else "asc",
                  "reverse": _with(url, kept, {"order": "asc" if descending else "desc"})}
    if sort_field:
        sort["name"] = sort_field
    return data[start:end], pagination, shown, sort


def _with(url: str, params: Sequence[tuple[str, str]], replaced: dict[str, str]) -> str:
    """The request's URL with some parameters set (urlbuilder/url.go: the query's values, sorted by key
    as Go's url.Values.Encode writes them)."""
    kept = [(key, value) for key, value in params if key not in replaced] + list(replaced.items())
    return f"{url}?{urlencode(sorted(kept, key=lambda pair: pair[0]))}"
