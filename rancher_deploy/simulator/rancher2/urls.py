"""Where a 2.x response's links point: the request's base URL as norman's urlbuilder builds it."""

from __future__ import annotations

from collections.abc import Mapping


def request_root(headers: Mapping[str, str], scheme: str, host: str) -> str:
    """``scheme://host[/prefix]``, the base of every link in a 2.x answer.

    rancher/norman urlbuilder/url.go (ParseRequestURL, GetHost, GetScheme; Steve's apiserver copies
    it): the host is X-API-Host, else the first X-Forwarded-Host, else Host; the scheme
    X-Forwarded-Proto (``ws``/``wss`` read as http/https), else https on a TLS connection, else
    http; X-API-URL-Prefix is put before the path. So a TLS-terminating proxy that passes Host but
    not X-Forwarded-Proto gets http:// links (rancher/rancher#7804). ``scheme`` and ``host`` are
    the connection's scheme and its Host header (or the listening address); headers are lower-cased.
    """
    api_host = (headers.get("x-api-host") or "").strip()
    forwarded_host = (headers.get("x-forwarded-host") or "").split(",")[0].strip()
    chosen_host = api_host or forwarded_host or host
    proto = (headers.get("x-forwarded-proto") or "").strip()
    chosen_scheme = {"ws": "http", "wss": "https"}.get(proto, proto) or scheme
    prefix = "/".join(part for part in (headers.get("x-api-url-prefix") or "").split("/") if part)
    return f"{chosen_scheme}://{chosen_host}" + (f"/{prefix}" if prefix else "")
