from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from config import two_factor

from ..api_keys import api_key_check
from ..models import ApiKey
from ..ratelimit import parse_rate
from ..selectors.scope import is_display

ERR_BAD_KEY = _("接口密钥无效或已吊销。")


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Api-Key hk_…`` (or ``X-Api-Key: hk_…``)."""

    keyword = "Api-Key"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header.startswith(self.keyword + " "):
            raw = header[len(self.keyword) + 1 :]
        else:
            raw = request.META.get("HTTP_X_API_KEY", "")
        if not raw:
            return None
        key = api_key_check(raw)
        if key is None:
            raise exceptions.AuthenticationFailed(ERR_BAD_KEY)
        return key.user, key

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """The admin's session, on the admin's terms: someone who turned two-factor
    login on needs a session that passed it."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None and not two_factor.session_passes(request._request):
            return None
        return result


class StaffSessionScheme(SessionScheme):
    target_class = "cases.api.auth.StaffSessionAuthentication"


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "cases.api.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key hk_…` — issued in the admin or by `manage.py create_api_key`.",
        }


def request_key(request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


class IsStaffOrKey(permissions.BasePermission):
    """A valid key, or a logged-in member of staff."""

    message = _("需要登录或有效的接口密钥。")

    def has_permission(self, request, view):
        if request_key(request) is not None:
            return True
        user = request.user
        signed_in = bool(user and user.is_authenticated and user.is_active)
        # a wall-screen display account reads the wall and nothing else
        return signed_in and (user.is_superuser or (hasattr(user, "staff") and not is_display(user)))


class KeyPurpose(permissions.BasePermission):
    """Keys may only use the endpoints of their purpose (``view.key_purposes``)."""

    message = _("该接口密钥的用途不允许此操作。")

    def has_permission(self, request, view):
        key = request_key(request)
        if key is None:
            return True
        allowed = getattr(view, "key_purposes", {}).get(getattr(view, "action", None) or request.method, ())
        if allowed == "*":
            return True
        return key.purpose in allowed


class SettingsRate:
    """Rates read from ``HOTLINE_API_RATES`` at request time (so they can change
    without a restart of the class machinery), with "10/10min" windows allowed."""

    def get_rate(self):
        return settings.HOTLINE_API_RATES[self.scope]

    def parse_rate(self, rate):
        return parse_rate(rate)


class KeyRateThrottle(SettingsRate, throttling.SimpleRateThrottle):
    """Per key (the ``key`` rate); staff are throttled per user by ``user``."""

    scope = "key"

    def get_cache_key(self, request, view):
        key = request_key(request)
        if key is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": key.prefix}


class StaffRateThrottle(SettingsRate, throttling.UserRateThrottle):
    scope = "user"

    def get_cache_key(self, request, view):
        if request_key(request) is not None:
            return None
        return super().get_cache_key(request, view)
