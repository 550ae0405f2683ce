"""Which shared services this process found down lately (Redis as cache or
broker): the web keeps working without them, and administrators see a banner
until they answer again."""

import logging
import time

logger = logging.getLogger("hotline.health")

#: How long a failure keeps the banner up (seconds) and how often it is logged.
WINDOW = 120
_last_failure: dict[str, float] = {}


def mark_down(component: str, error: Exception | None = None) -> None:
    now = time.monotonic()
    if now - _last_failure.get(component, -WINDOW) >= WINDOW:
        logger.error("%s unavailable, working without it: %s", component, error)
    _last_failure[component] = now


def mark_up(component: str) -> None:
    _last_failure.pop(component, None)


def down_components() -> list[str]:
    now = time.monotonic()
    return sorted(name for name, at in _last_failure.items() if now - at < WINDOW)


def forget() -> None:
    """Start afresh (each test does)."""
    _last_failure.clear()
