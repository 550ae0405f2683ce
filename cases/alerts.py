"""Sensor alerts → proactive tickets (未诉先办): a lone elder's water meter that
has not moved for a day, a gas detector that trips. The ticket is registered in
the sensor platform's name and routed straight to the community of the place."""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from departments.models import Grid

from . import workflow
from .models import ApiKey, Category, Channel, Ticket, TicketState
from .workflow import WorkflowError


@dataclass
class AlertResult:
    ticket: Ticket
    created: bool
    routed: bool


def _category_for(kind: str) -> Category:
    codes = settings.HOTLINE_ALERT_CATEGORIES
    code = codes.get(kind) or codes.get("*")
    category = Category.objects.filter(code=code, is_active=True).first() if code else None
    if category is None:
        raise ValidationError({"kind": _("告警类型 %(kind)s 没有对应的诉求分类。") % {"kind": kind}})
    return category


def alert_ingest(
    *,
    key: ApiKey,
    device_id: str,
    alert_id: str,
    kind: str,
    message: str,
    reading: str = "",
    occurred_at=None,
    grid_code: str = "",
    address: str = "",
    latitude=None,
    longitude=None,
) -> AlertResult:
    """One alert, once: the same (device, alert id) posted again returns the
    ticket it opened. Routing failures leave the ticket with the dispatchers."""
    category = _category_for(kind)
    grid = None
    if grid_code:
        grid = Grid.objects.filter(code=grid_code, is_active=True).select_related("community").first()
        if grid is None:
            raise ValidationError({"grid": _("网格编码 %(code)s 不存在。") % {"code": grid_code}})
    external_id = f"{device_id}:{alert_id}"[:64]
    when = timezone.localtime(occurred_at or timezone.now())
    content = _("【物联感知告警】%(kind)s：%(message)s（设备 %(device)s，读数 %(reading)s，时间 %(when)s）") % {
        "kind": category.name,
        "message": message,
        "device": device_id,
        "reading": reading or "—",
        "when": when.strftime("%Y-%m-%d %H:%M"),
    }
    with transaction.atomic():
        # One alert at a time per key: the duplicate check below cannot race.
        ApiKey.objects.select_for_update().filter(pk=key.pk).first()
        existing = Ticket.objects.filter(created_by=key.user, channel=Channel.SENSOR, external_id=external_id).first()
        if existing is not None:
            return AlertResult(existing, created=False, routed=existing.lead_department_id is not None)
        ticket = workflow.ticket_create(
            actor=key.user,
            channel=Channel.SENSOR,
            category=category,
            content=content,
            is_proactive=True,
            external_id=external_id,
            grid=grid,
            address=address,
            latitude=latitude,
            longitude=longitude,
        )
        routed = False
        if ticket.community_id is not None:
            try:
                ticket = workflow.ticket_dispatch(
                    ticket=ticket, actor=key.user, department=ticket.community, note=_("物联感知告警，自动派至属地社区")
                )
                routed = True
            except WorkflowError:
                ticket.refresh_from_db()
    return AlertResult(ticket, created=True, routed=routed and ticket.state == TicketState.DISPATCHED)
