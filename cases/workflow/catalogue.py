"""派单目录 (dispatch catalogue, 国办函〔2025〕66号): per category, the kinds of unit that
may receive it as lead unit. Work that belongs to a functional bureau is not pushed
down to streets and communities (基层减负) without a stated reason.

This module is the one home of the rule. ``ticket_dispatch`` and
``ticket_subdispatch`` call :func:`catalogue_check` before they change anything;
the dispatch form, the category admin and the API read :func:`catalogue_kinds`.

Decisions:

- The catalogue governs the **lead unit** (the one a dispatch or a sub-dispatch
  hands the ticket to). Co-handlers are not restricted: 吹哨报到 is exactly a street
  calling bureaus in, or a bureau asking a street for help on the ground.
- A category without its own list inherits the nearest ancestor's; an empty list
  all the way up means "no catalogue": every kind of unit may receive it.
- Dispatching outside the catalogue is not forbidden but needs a reason. The event
  records ``off_catalogue`` (a fact column) and the reason (``data``), so the
  supervisors' list and 派单准确率 can read it later without re-deciding it.
"""

from django.utils.translation import gettext_lazy as _

from departments.models import Department

from .. import reference
from ..models import Category
from .rules import WorkflowError

#: The kinds of unit a catalogue may name (the centre and the city never handle).
RECEIVER_KINDS = [
    Department.Kind.BUREAU,
    Department.Kind.COMPANY,
    Department.Kind.DISTRICT,
    Department.Kind.STREET,
    Department.Kind.COMMUNITY,
]
RECEIVER_KIND_CHOICES = [(kind.value, kind.label) for kind in RECEIVER_KINDS]

ERR_OFF_CATALOGUE = _(
    "诉求分类“%(category)s”的派单目录为：%(kinds)s；“%(name)s”（%(kind)s）不在目录内，"
    "如确需派给该单位，请填写目录外派单理由。"
)


def catalogue_kinds(category: Category | None) -> frozenset | None:
    """The unit kinds ``category`` may be dispatched to, from the nearest category
    (itself, then its ancestors) that lists any; ``None``: no catalogue, any kind."""
    node = category
    while node is not None:  # up the ``parent`` links (a list selects ``parent__parent``)
        kinds = [k for k in (node.receiver_kinds or []) if k in Department.Kind.values]
        if kinds:
            return frozenset(kinds)
        node = (reference.categories().get(node.parent_id) or node.parent) if node.parent_id else None
    return None


def catalogue_labels(kinds) -> str:
    """``kinds`` as the admin shows them: 职能部门、公共服务企业 (in catalogue order)."""
    return "、".join(str(Department.Kind(k).label) for k in RECEIVER_KINDS if k in (kinds or ()))


def catalogue_allows(category: Category | None, department: Department) -> bool:
    """Whether ``department`` may receive ``category`` as lead unit by the catalogue."""
    kinds = catalogue_kinds(category)
    return kinds is None or department.kind in kinds


def catalogue_check(category: Category | None, department: Department, reason: str) -> tuple[bool, str]:
    """``(off_catalogue, reason)`` for handing ``category`` to ``department``: within
    the catalogue the reason is dropped; outside it one is required (else a
    ``WorkflowError`` keyed ``catalogue_reason``, so a form shows it by the field)."""
    reason = (reason or "").strip()
    kinds = catalogue_kinds(category)
    if kinds is None or department.kind in kinds:
        return False, ""
    if not reason:
        message = WorkflowError(
            ERR_OFF_CATALOGUE,
            code="off_catalogue",
            params={
                "category": category.name,
                "kinds": catalogue_labels(kinds),
                "name": department.name,
                "kind": Department.Kind(department.kind).label,
            },
        )
        raise WorkflowError({"catalogue_reason": message})
    return True, reason
