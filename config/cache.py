"""Django's Redis cache, made to survive Redis being down.

The cache holds only counters (throttles, the public lookup's attempts): losing
them for a while is better than answering every request with a 500. A call that
cannot reach Redis behaves as a miss (``get`` → default, ``add``/``set`` → not
stored, ``incr`` → "no such key"), is logged once a minute or two, and puts the
"Redis unreachable" banner in front of administrators (config/health.py)."""

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import health

DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


class ResilientRedisCache(RedisCache):
    def _guard(self, call, default, *args, **kwargs):
        try:
            result = call(*args, **kwargs)
        except DOWN as error:
            health.mark_down("Redis", error)
            return default
        health.mark_up("Redis")
        return result

    def get(self, key, default=None, version=None):
        return self._guard(super().get, default, key, default, version)

    def get_many(self, keys, version=None):
        return self._guard(super().get_many, {}, keys, version)

    def has_key(self, key, version=None):
        return self._guard(super().has_key, False, key, version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard(super().add, False, key, value, timeout, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard(super().set, None, key, value, timeout, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard(super().set_many, list(data), data, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard(super().touch, False, key, timeout, version)

    def delete(self, key, version=None):
        return self._guard(super().delete, False, key, version)

    def delete_many(self, keys, version=None):
        return self._guard(super().delete_many, None, keys, version)

    def incr(self, key, delta=1, version=None):
        try:
            result = super().incr(key, delta, version)
        except DOWN as error:
            health.mark_down("Redis", error)
            raise ValueError(f"Key '{key}' not found (Redis unreachable)") from error
        health.mark_up("Redis")
        return result

    def clear(self):
        return self._guard(super().clear, False)
