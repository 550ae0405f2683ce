"""The verb registry: one row per event kind, with everything the doors need to
know about it — its button label, order and colour, its API slug, whether
citizens see it, and the message it sends to whom.

Who may start a transition from which state stays in ``rules.TRANSITIONS``; the
transition itself is the function in ``verbs`` that names its kind with
:func:`performs`. The doors keep exactly one mapping each from kind to their
own input class (``cases.admin.forms.ACTION_FORMS``,
``cases.api.serializers.ACTION_SERIALIZERS``); tests/cases/test_registry.py
holds the lot together.

Adding a verb: a row here, its function in ``verbs`` (with ``@performs``), its
rule in ``TRANSITIONS``, its admin form (and its API serializer if it has a slug).

This module imports nothing from the workflow, the doors or notifications:
all of them read it.
"""

import enum
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from ..models import TicketEvent

Kind = TicketEvent.Kind


class Audience(enum.Enum):
    """Who hears of an event (``cases.notifications.on_transition``)."""

    ASSIGNEE = "assignee"  # the unit (or grid worker) now holding the ticket: its handlers, else its heads
    PREVIOUS_HOLDER = "previous_holder"  # the unit (or grid worker) that held it before (``data.previous``)
    COHANDLERS = "cohandlers"  # the co-handling units just brought in: handlers, else heads
    LEAD = "lead"  # the lead unit's handlers and heads
    LEAD_HEADS = "lead_heads"  # the lead unit's heads only (a draft or a sign-off to approve)
    CENTRE = "centre"  # the dispatchers of the centre now owning the ticket (a sub-centre, or the city's)


@dataclass(frozen=True)
class Verb:
    kind: str
    #: The button (a verb: 派单), where the timeline shows ``Kind(kind).label``, a
    #: past event. ``None``: not an action of its own (written by another one).
    label: str | None = None
    #: A red button: it sends something back, refuses or escalates.
    danger: bool = False
    #: ``POST /api/v1/tickets/{number}/<slug>/``; ``None``: not offered by the API.
    slug: str | None = None
    #: Shown to the citizen (status page, Open311 service request updates).
    public: bool = False
    #: The inbox title of the notification (``%(number)s``); ``None``: nobody is told.
    template: str | None = None
    audience: Audience | None = None

    @property
    def actionable(self) -> bool:
        """An action button (and a form) of its own."""
        return self.label is not None

    @property
    def function(self) -> Callable:
        """The transition that writes this kind (``ticket=``, ``actor=``, then its
        own keyword arguments)."""
        return _FUNCTIONS[self.kind]


def _rows(*verbs: Verb) -> dict[str, Verb]:
    return {verb.kind: verb for verb in verbs}


#: Every event kind, in the order of the buttons on the ticket page (the main path first).
VERBS: dict[str, Verb] = _rows(
    Verb(Kind.CREATED, public=True),
    Verb(
        Kind.DISPATCHED,
        _("派单"),
        slug="dispatch",
        public=True,
        template=_("【新工单】%(number)s 已派至本单位，请及时签收"),
        audience=Audience.ASSIGNEE,
    ),
    Verb(Kind.ANSWERED, _("直接答复办结"), slug="answer", public=True),
    Verb(Kind.SIGNED, _("签收"), slug="sign", public=True),
    Verb(Kind.CONTACTED, _("记录联系"), slug="contact"),
    Verb(Kind.PROGRESS, _("记录进展"), slug="progress"),
    Verb(Kind.REPLIED, _("办理反馈"), slug="reply", public=True),
    # Written instead of ``replied`` while the unit head must sign the reply.
    Verb(
        Kind.REPLY_DRAFTED, template=_("【待签批】工单 %(number)s 的办理反馈待负责人签批"), audience=Audience.LEAD_HEADS
    ),
    Verb(Kind.APPROVED, _("审核通过"), slug="approve", public=True),
    Verb(
        Kind.REWORK,
        _("退回重办"),
        danger=True,
        slug="rework",
        public=True,
        template=_("【退回重办】工单 %(number)s 的反馈被退回"),
        audience=Audience.ASSIGNEE,
    ),
    Verb(
        Kind.SUBDISPATCHED,
        _("下派"),
        slug="subdispatch",
        template=_("【新工单】%(number)s 已下派至本单位，请及时签收"),
        audience=Audience.ASSIGNEE,
    ),
    Verb(
        Kind.TAKEN_BACK,
        _("收回"),
        danger=True,
        slug="take-back",
        template=_("【收回】工单 %(number)s 已被上级单位收回"),
        audience=Audience.PREVIOUS_HOLDER,
    ),
    Verb(
        Kind.HANDED_BACK,
        _("交回上级"),
        slug="hand-back",
        template=_("【交回】工单 %(number)s 已由下级交回本单位"),
        audience=Audience.ASSIGNEE,
    ),
    Verb(
        Kind.COHANDLERS_ADDED,
        _("增加协办"),
        template=_("【协办】请协助办理工单 %(number)s"),
        audience=Audience.COHANDLERS,
    ),
    Verb(Kind.COHANDLER_SIGNED, _("协办签收"), slug="cohandler-sign"),
    Verb(Kind.COHANDLER_REPLIED, _("协办反馈"), slug="cohandler-reply"),
    Verb(Kind.RETURN_REQUESTED, _("申请退单"), slug="return-request"),
    Verb(Kind.RETURN_APPROVED, _("同意退单"), slug="return-approve", public=True),
    Verb(Kind.RETURN_REJECTED, _("驳回退单"), danger=True, slug="return-reject"),
    # 派单异议: the unit objects to the dispatch; upheld, it is charged to the dispatch only.
    Verb(Kind.OBJECTION_REQUESTED, _("派单异议"), slug="objection-request"),
    Verb(Kind.OBJECTION_UPHELD, _("异议成立"), slug="objection-uphold"),
    # 首接负责制: the first receiver asks the centre to arbitrate instead of returning.
    Verb(Kind.ARBITRATION_REQUESTED, _("申请协调"), slug="arbitration-request"),
    Verb(
        Kind.ARBITRATION_RULED,
        _("协调裁定"),
        slug="arbitration-rule",
        template=_("【协调裁定】工单 %(number)s 的协调申请已裁定"),
        audience=Audience.LEAD,
    ),
    Verb(
        Kind.OBJECTION_REJECTED,
        _("异议不成立"),
        danger=True,
        slug="objection-reject",
        template=_("【派单异议】工单 %(number)s 的派单异议不成立，请继续办理"),
        audience=Audience.LEAD,
    ),
    Verb(Kind.EXTENSION_REQUESTED, _("申请延期"), slug="extension-request"),
    Verb(Kind.EXTENSION_APPROVED, _("同意延期"), slug="extension-approve", public=True),
    Verb(Kind.EXTENSION_REJECTED, _("驳回延期"), danger=True, slug="extension-reject"),
    Verb(Kind.HEAD_SIGNED, _("负责人签批")),
    Verb(Kind.HEAD_RETURNED, _("签批退回"), danger=True),
    Verb(Kind.URGE_ACKNOWLEDGED, _("签收催办")),
    Verb(
        Kind.URGED,
        _("催办"),
        danger=True,
        template=_("【催办】工单 %(number)s 收到催办，请签收并反馈"),
        audience=Audience.LEAD,
    ),
    Verb(
        Kind.ESCALATED,
        _("提级督办"),
        danger=True,
        template=_("【提级督办】工单 %(number)s 已提级督办，办结时限缩短"),
        audience=Audience.LEAD,
    ),
    Verb(
        Kind.SIGNOFF_REQUIRED,
        _("要求一把手签批"),
        template=_("【一把手签批】工单 %(number)s 的反馈须经负责人签批"),
        audience=Audience.LEAD_HEADS,
    ),
    Verb(Kind.MERGED, _("并单"), slug="merge", public=True),
    # Written on each ticket merged into a master when the master closes.
    Verb(Kind.MASTER_CLOSED, public=True),
    Verb(Kind.INVALIDATED, _("标记无效"), danger=True, slug="invalidate", public=True),
    Verb(
        Kind.REOPENED,
        _("重办"),
        danger=True,
        public=True,
        template=_("【重办】工单 %(number)s 回访不满意，需重新办理"),
        audience=Audience.ASSIGNEE,
    ),
    Verb(Kind.REOPEN_OVERRULED, _("复核不予重办"), public=True),
    # Written by the re-timing task after a calendar or policy change; the unit
    # hears of it once per batch (cases.deadlines.retiming), not per ticket.
    Verb(Kind.DEADLINES_RETIMED),
    # Whether the ticket may be on public pages (cases.public): the centre decides.
    Verb(Kind.PUBLICITY_CHANGED, _("设置公开范围")),
    # Sub-centres (分中心 / 分平台): the city transfers a received ticket, the
    # sub-centre signs it (then dispatches within its subtree) or sends it back.
    Verb(
        Kind.TRANSFERRED,
        _("转分中心"),
        slug="transfer",
        template=_("【转办】工单 %(number)s 已转至本分中心，请及时签收"),
        audience=Audience.CENTRE,
    ),
    Verb(Kind.CENTRE_SIGNED, _("分中心签收"), slug="centre-sign"),
    Verb(
        Kind.CENTRE_RETURNED,
        _("退回市中心"),
        danger=True,
        slug="centre-return",
        template=_("【退回】分中心退回工单 %(number)s，请重新处理"),
        audience=Audience.CENTRE,
    ),
)

#: Events that change what a citizen would see (status page, Open311 updates).
PUBLIC_KINDS = tuple(kind for kind, verb in VERBS.items() if verb.public)

_FUNCTIONS: dict[str, Callable] = {}


def performs(kind: str):
    """Mark a function in ``verbs`` as the transition that writes ``kind``
    events (what :attr:`Verb.function` returns)."""

    def register(function):
        assert kind in VERBS and kind not in _FUNCTIONS, kind
        _FUNCTIONS[kind] = function
        return function

    return register
