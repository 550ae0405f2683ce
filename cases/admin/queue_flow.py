"""Working through a list: the list a page was opened from travels with it (the
admin's own ``_changelist_filters``), and "提交并处理下一条" finds the next row of
that same list — the changelist itself rebuilt from its query string, so the
filters, the search and the ordering are the ones the user saw."""

import copy
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR
from django.core.exceptions import SuspiciousOperation
from django.http import HttpResponseRedirect, QueryDict
from django.urls import reverse

FILTERS = "_changelist_filters"
#: "提交并处理下一条" looks this far down the list for the row after the one done.
NEXT_CAP = 2000


def carried_filters(request) -> str | None:
    """The query string of the list this page was opened from ("" for the list
    without filters), None if it was not opened from a list."""
    if FILTERS not in request.GET:
        return None
    return request.GET[FILTERS][:2000]


def with_filters(url: str, filters: str | None) -> str:
    return url if filters is None else f"{url}?{urlencode({FILTERS: filters})}"


def list_url(url: str, filters: str | None) -> str:
    return f"{url}?{filters}" if filters else url


def changelist_pks(model_admin, request, filters: str | None) -> list[int] | None:
    """The pks of ``model_admin``'s changelist for the query string ``filters``,
    as ``request.user`` sees it, in its order (the first ``NEXT_CAP``); None if
    the query string is not a valid list."""
    params = QueryDict(filters or "", mutable=True)
    for name in (PAGE_VAR, ERROR_FLAG):
        params.pop(name, None)
    listing = copy.copy(request)
    listing.method = "GET"
    listing.GET = params
    listing.POST = QueryDict()
    try:
        changelist = model_admin.get_changelist_instance(listing)
    except (IncorrectLookupParameters, SuspiciousOperation):  # e.g. a lookup the list does not allow
        return None
    return list(changelist.queryset.values_list("pk", flat=True)[:NEXT_CAP])


def next_pk(pks: list[int], done: int) -> int | None:
    """The row after ``done`` if it is still in the list, else the first one (the
    one done has left the list: what follows is now at the top)."""
    rest = pks[pks.index(done) + 1 :] if done in pks else pks
    return rest[0] if rest else None


def next_in_list(model_admin, request, done_pk: int, filters: str | None, *, item: str, empty_message: str):
    """ "…并处理下一条": the page ``item`` (an admin URL name taking a pk) of the next
    row of the list the user came from; the list itself, with ``empty_message``,
    when nothing is left in it; the row just done when the list cannot be rebuilt."""
    pks = changelist_pks(model_admin, request, filters)
    if pks is None:
        return HttpResponseRedirect(reverse(item, args=[done_pk]))
    pk = next_pk(pks, done_pk)
    if pk is None:
        messages.info(request, empty_message)
        opts = model_admin.opts
        return HttpResponseRedirect(list_url(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), filters))
    return HttpResponseRedirect(with_filters(reverse(item, args=[pk]), filters))
