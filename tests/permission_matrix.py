"""Every URL of the project, filled in with real objects, for the permission matrix
(tests/test_permission_matrix.py)."""

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
