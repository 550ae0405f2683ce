"""The ticket ledger (工单台账): its columns and its masking, once, for every
export of a ticket list (the list's CSV action, the background Excel export).

The citizen's name and phone are masked for everyone and left out where the
ticket is confidential to the reader (``citizen_hidden_from``)."""

from django.utils.translation import gettext_lazy as _

from .clock import local_stamp
from .privacy import citizen_hidden_from, mask_name, mask_phone


def _when(value):
    return local_stamp(value)


COLUMNS = [
    (_("工单编号"), lambda t: t.number),
    (_("受理时间"), lambda t: _when(t.received_at)),
    (_("渠道"), lambda t: t.get_channel_display()),
    (_("诉求性质"), lambda t: t.get_nature_display()),
    (_("紧急程度"), lambda t: t.get_urgency_display()),
    (_("诉求分类"), lambda t: t.category.full_name),
    (_("诉求内容"), lambda t: t.content),
    (_("诉求地址"), lambda t: t.address),
    (_("区县"), lambda t: t.district.name if t.district else ""),
    (_("街道乡镇"), lambda t: t.street.name if t.street else ""),
    (_("社区村"), lambda t: t.community.name if t.community else ""),
    (_("主办单位"), lambda t: t.lead_department.name if t.lead_department else ""),
    (_("状态"), lambda t: t.get_state_display()),
    (_("派单时间"), lambda t: _when(t.dispatched_at)),
    (_("签收时间"), lambda t: _when(t.signed_at)),
    (_("办结时限"), lambda t: _when(t.resolve_due_at)),
    (_("办结时间"), lambda t: _when(t.closed_at)),
    (_("办理结果"), lambda t: t.get_reply_result_display()),
    (_("办理情况"), lambda t: t.reply_text),
    (_("退回重办次数"), lambda t: t.rework_count),
    (_("延期次数"), lambda t: t.extension_count),
]
CITIZEN_COLUMNS = [_("诉求人"), _("联系电话")]
#: What the rows read through foreign keys: one query per chunk, not per row.
RELATED = ["category__parent__parent", "district", "street", "community", "lead_department"]


def ledger_header() -> list[str]:
    return [str(header) for header, _getter in COLUMNS] + [str(header) for header in CITIZEN_COLUMNS]


def ledger_row(ticket, user) -> list:
    hidden = citizen_hidden_from(user, ticket)
    return [getter(ticket) for _header, getter in COLUMNS] + [
        "" if hidden else mask_name(ticket.citizen_name),
        "" if hidden else mask_phone(ticket.citizen_phone),
    ]


def ledger_rows(tickets, user, chunk_size: int = 2000):
    """The ledger rows of ``tickets`` (already scoped to ``user``), as ``user`` may read them."""
    for ticket in tickets.select_related(*RELATED).iterator(chunk_size=chunk_size):
        yield ledger_row(ticket, user)
