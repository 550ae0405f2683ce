from django.conf import settings


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
