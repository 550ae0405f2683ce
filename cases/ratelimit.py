"""Fixed-window request counters in the cache, for the public pages and Open311
(the REST API uses DRF's throttles, reading the same ``HOTLINE_API_RATES``)."""

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone


def parse_rate(rate: str) -> tuple[int, int]:
    """ "600/min", "10/10min", "5/hour" → (requests, seconds)."""
    count, period = rate.split("/")
    digits = "".join(ch for ch in period if ch.isdigit()) or "1"
    unit = period[len(digits) :] if period[: len(digits)] == digits else period
    seconds = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}[unit]
    return int(count), int(digits) * seconds


def over_limit(scope: str, request) -> bool:
    """Count one request of this address against ``HOTLINE_API_RATES[scope]``;
    True once the window's allowance is used up."""
    count, seconds = parse_rate(settings.HOTLINE_API_RATES[scope])
    bucket = int(timezone.now().timestamp() // seconds)
    name = f"{scope}:{request.META.get('REMOTE_ADDR', '')}:{bucket}"
    cache.add(name, 0, seconds)
    try:
        return cache.incr(name) > count
    except ValueError:  # evicted between add and incr: let it through
        return False
