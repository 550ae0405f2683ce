"""Every URL of the project, filled in with real objects, for the permission matrix
(tests/test_permission_matrix.py)."""

import zlib
from dataclasses import dataclass

from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name", or the route itself for unnamed catch-alls
    route: str
    pattern: URLPattern


def all_routes() -> list[Route]:
    routes = []

    def walk(patterns, prefix="", namespace=None):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern), p.namespace or namespace)
            else:
                route = prefix + str(p.pattern)
                name = f"{namespace}:{p.name}" if namespace and p.name else (p.name or f"<{route}>")
                routes.append(Route(name, route, p))

    walk(get_resolver().url_patterns)
    return routes


def admin_model(name: str):
    """The model behind an admin URL name such as ``admin:cases_ticket_change``."""
    if not name.startswith("admin:"):
        return None
    for model in apps.get_models():
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        if name.startswith(prefix):
            return model
    return None


# -- shards ------------------------------------------------------------------------------
# A test over every route is split into shards so that xdist can spread it over the
# cores (it cannot split one test). Each work item belongs to exactly one shard, by a
# stable hash of its key: the shards together do what the whole test did, once.


def shard_of(key: str, shards: int) -> int:
    """The shard (0 … shards-1) that owns the work item named ``key``."""
    return zlib.crc32(key.encode()) % shards


def owned(items, key, shard: int, shards: int) -> list:
    """The items of ``items`` that shard ``shard`` of ``shards`` owns, in their order."""
    return [item for item in items if shard_of(key(item), shards) == shard]
