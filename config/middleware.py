from django.conf import settings
from django.http import HttpResponseBadRequest, JsonResponse
from django.utils.translation import gettext

from cases.open311.render import error as open311_error

from .replicas import pin_primary


class ChineseByDefaultMiddleware:
    """The staff interface is Chinese unless a user picks another language with the
    switcher (a cookie). Browsers on intranet PCs often send ``en-US``; that alone
    should not turn the workbench English."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not settings.HONOUR_BROWSER_LANGUAGE:
            request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        return self.get_response(request)


class RefuseNulCharactersMiddleware:
    """A NUL character is never part of a legitimate request, and PostgreSQL refuses
    it in any text it is asked to store or compare: refuse it at the door with a
    clear 400 — in the path, the query string, a form or a JSON body — before any
    view, filter or lookup can hand it to the database."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _carries_nul(request):
            return _refused(request)
        return self.get_response(request)


def _has_nul(params) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in params.lists())


def _carries_nul(request) -> bool:
    if "\x00" in request.path or _has_nul(request.GET):
        return True
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return False
    content_type = request.content_type or ""
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return _has_nul(request.POST)
    if content_type.endswith("json"):
        return b"\\u0000" in request.body.lower()
    return False


def _refused(request):
    message = gettext("请求中含有不允许的空字符（NUL），请删除后重试。")
    if request.path.startswith("/open311/"):
        return open311_error("xml" if request.path.endswith(".xml") else "json", 400, message)
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=400, json_dumps_params={"ensure_ascii": False})
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


class ReplicaPinMiddleware:
    """A request that wrote (any successful non-safe method) keeps its user's reads
    on the primary for ``DATABASE_REPLICA_STICKY_SECONDS`` (config/replicas.py)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE") and response.status_code < 400:
            if settings.DATABASE_REPLICAS:
                pin_primary(request, response)
        return response
