"""Declared incidents (停水、停电、停暖…): declaring, matching a call, linking it,
closing (issue 21 part 4).

- ``incident_validate``: the one check of an incident's input (the admin form and
  ``incident_declare`` / ``incident_update`` call it);
- ``incidents_matching``: the open incidents a call belongs to — category and place;
- ``incident_link_answer`` / ``incident_link_attach``: the operator's one click, through
  the workflow's verbs (``ticket_answer`` with the notice, or ``ticket_merge`` into the
  incident's master ticket);
- ``incident_close``: the master closes through ``ticket_answer`` and every ticket
  merged into it takes the result as merged tickets do (``master_closed``), so their
  callbacks follow from the daily batch like any merged ticket's.

Matching, decided here once:

- **category**: the incident's category and the call's lie on one line of the tree —
  the incident's is the call's or one of its ancestors (a 供水 incident takes a
  供水›停水 call) or one of its descendants (a 停水 incident shows for a call filed
  under the broader 供水);
- **place**: the call's resolved territory lies within an affected place (its grid is
  an affected grid, or one of its community / street / district is an affected unit
  or lies below one), or its coordinates lie in the drawn area (``departments.geo``).
  A call whose place is not known matches no incident: the operator asks.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from departments import geo
from departments.models import Department
from departments.selectors import Territory

from . import clock, workflow
from .models import OPEN_STATES, Incident, IncidentLink, ReplyResult, Ticket, TicketState
from .selectors.scope import incident_declaring_units, incident_may_manage, incident_scope

ERR_END_BEFORE_START = _("预计恢复时间不能早于开始时间。")
ERR_NOTICE_EMPTY = _("请填写公告内容。")
ERR_TITLE_EMPTY = _("请填写标题。")
ERR_NO_PLACE = _("请选择受影响的属地或网格，或绘制影响范围。")
ERR_AREA = _("影响范围不是有效的多边形：%(reason)s")
ERR_PLACE_KIND = _("影响区域只能选择区县、街道乡镇或社区村。")
ERR_CLOSED = _("该事件已结束，不能再修改或关联来电。")
ERR_RESULT_EMPTY = _("请填写处置结果。")
ERR_MASTER_HANDLING = _("事件主工单 %(number)s 已派单办理，请按办理流程办结主工单后再结束事件。")
ERR_NOT_MANAGER = _("您不能管理该事件：只有发布单位或热线中心可以修改、结束。")
ERR_NOT_MATCHING = _("该来电的分类或属地与事件不符，不能关联。")
ERR_DECLARING_UNIT = _("您不能以该单位名义发布事件。")


def incident_validate(
    *, title, starts_at, expected_end_at, notice, departments=(), grids=(), area=None
) -> tuple[str, str, dict | None]:
    """Check an incident's input; returns the cleaned ``(title, notice, area)`` or
    raises a ``ValidationError`` keyed by field."""
    errors = {}
    title = (title or "").strip()
    notice = (notice or "").strip()
    if not title:
        errors["title"] = ERR_TITLE_EMPTY
    if not notice:
        errors["notice"] = ERR_NOTICE_EMPTY
    if starts_at and expected_end_at and expected_end_at < starts_at:
        errors["expected_end_at"] = ERR_END_BEFORE_START
    if area in ("", {}, []):
        area = None
    if area is not None:
        problems = geo.validate_boundary(area)
        if problems:
            errors["area"] = ValidationError(ERR_AREA, params={"reason": "；".join(problems)})
    if any(d.kind not in Department.TERRITORIAL_KINDS for d in departments):
        errors["departments"] = ERR_PLACE_KIND
    if not list(departments) and not list(grids) and area is None and "area" not in errors:
        errors["departments"] = ERR_NO_PLACE
    if errors:
        raise ValidationError(errors)
    return title, notice, area


def incident_declare(
    *,
    actor,
    kind,
    title,
    category,
    declared_by,
    starts_at,
    notice,
    expected_end_at=None,
    departments=(),
    grids=(),
    area=None,
) -> Incident:
    """Declare an incident for ``declared_by`` (one of the units ``actor`` may declare
    for: ``cases.selectors.scope.incident_declaring_units``)."""
    if not incident_declaring_units(actor).filter(pk=declared_by.pk).exists():
        raise ValidationError({"declared_by": ERR_DECLARING_UNIT})
    if kind not in Incident.Kind.values:
        raise ValidationError({"kind": _("事件类型无效。")})
    title, notice, area = incident_validate(
        title=title,
        starts_at=starts_at,
        expected_end_at=expected_end_at,
        notice=notice,
        departments=departments,
        grids=grids,
        area=area,
    )
    with transaction.atomic():
        incident = Incident(
            kind=kind,
            title=title,
            category=category,
            declared_by=declared_by,
            starts_at=starts_at,
            expected_end_at=expected_end_at,
            notice=notice,
            area=area,
            declared_at=clock.now(),
            declared_user=actor,
        )
        incident._history_user = actor
        incident._change_reason = "declared"
        incident.save()
        incident.departments.set(departments)
        incident.grids.set(grids)
    return incident


def incident_close(*, incident: Incident, actor, result: str) -> Incident:
    """结束事件: record the result once; the master ticket (if calls were attached)
    closes through ``ticket_answer`` with the result, and every ticket merged into it
    takes the result (``master_closed``). A second close is refused (``ERR_CLOSED``),
    so no linked ticket is given the result twice."""
    result = (result or "").strip()
    if not result:
        raise ValidationError({"result": ERR_RESULT_EMPTY})
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        if not locked.is_open:
            raise ValidationError(ERR_CLOSED, code="closed")
        if not incident_may_manage(actor, locked):
            raise ValidationError(ERR_NOT_MANAGER, code="manager")
        master = locked.master_ticket
        if master is not None and master.state in OPEN_STATES:
            if master.state != TicketState.RECEIVED:
                raise ValidationError(ERR_MASTER_HANDLING, code="master_handling", params={"number": master.number})
            workflow.ticket_answer(ticket=master, actor=actor, text=result, result=ReplyResult.SOLVED)
        locked.status = Incident.Status.CLOSED
        locked.result = result
        locked.closed_at = clock.now()
        locked.closed_by = actor
        locked._history_user = actor
        locked._change_reason = "closed"
        locked.save(update_fields=["status", "result", "closed_at", "closed_by"])
    return locked


# -- intake ---------------------------------------------------------------------------


def _category_q_paths(category) -> list[str]:
    """The paths of ``category`` and its ancestors (read off its own path)."""
    parts = [p for p in category.path.strip("/").split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def incident_place_matches(incident: Incident, territory: Territory, latitude=None, longitude=None) -> bool:
    """Whether a call at ``territory`` (and these coordinates) lies in the incident's
    affected places. Reads the incident's prefetched ``departments`` and ``grids``."""
    if territory.grid is not None and any(g.pk == territory.grid.pk for g in incident.grids.all()):
        return True
    node = territory.most_specific
    if node is not None:
        lineage = set(node.lineage_ids)
        if any(d.pk in lineage for d in incident.departments.all()):
            return True
    if incident.area is not None and latitude is not None and longitude is not None:
        return bool(geo.contains(incident.area, float(latitude), float(longitude)))
    return False


def incidents_matching(*, user, category, territory: Territory, latitude=None, longitude=None) -> list[Incident]:
    """The open incidents ``user`` sees whose category and place match the call's
    (the rules are in this module's docstring); newest first."""
    if category is None:
        return []
    ids = list(
        incident_scope(Incident.objects.filter(status=Incident.Status.DECLARED), user)
        .filter(
            # the incident's category is the call's or an ancestor, or lies below it
            Q(category__path__in=_category_q_paths(category)) | Q(category__path__startswith=category.path)
        )
        .values_list("pk", flat=True)
    )
    if not ids:
        return []
    rows = (
        Incident.objects.filter(pk__in=ids)
        .select_related("category", "declared_by")
        .prefetch_related("departments", "grids")
        .order_by("-declared_at", "-pk")
    )
    return [i for i in rows if incident_place_matches(i, territory, latitude, longitude)]


def _check_link(incident: Incident, ticket: Ticket) -> None:
    if not incident.is_open:
        raise ValidationError(ERR_CLOSED, code="closed")
    category_paths = _category_q_paths(ticket.category)
    if incident.category.path not in category_paths and not incident.category.path.startswith(ticket.category.path):
        raise ValidationError(ERR_NOT_MATCHING, code="not_matching")
    territory = Territory(grid=ticket.grid, community=ticket.community, street=ticket.street, district=ticket.district)
    if not incident_place_matches(incident, territory, ticket.latitude, ticket.longitude):
        raise ValidationError(ERR_NOT_MATCHING, code="not_matching")


def _locked_incident(incident: Incident) -> Incident:
    return (
        Incident.objects.select_for_update(of=("self",))
        .select_related("category", "master_ticket")
        .prefetch_related("departments", "grids")
        .get(pk=incident.pk)
    )


def incident_link_answer(*, incident: Incident, ticket: Ticket, actor) -> Ticket:
    """ "以公告直接答复": the call just recorded is answered with the notice and
    closed at once (``ticket_answer``, 直接办结), and linked to the incident."""
    with transaction.atomic():
        locked = _locked_incident(incident)
        _check_link(locked, ticket)
        ticket = workflow.ticket_answer(ticket=ticket, actor=actor, text=locked.notice, result=ReplyResult.EXPLAINED)
        IncidentLink.objects.create(
            incident=locked, ticket=ticket, mode=IncidentLink.Mode.ANSWERED, linked_at=clock.now(), linked_by=actor
        )
    return ticket


def incident_link_attach(*, incident: Incident, ticket: Ticket, actor) -> Ticket:
    """ "并入事件主单": the call is merged (``ticket_merge``) into the incident's master
    ticket, which the first attached call creates (``ticket_create`` by the same
    operator, carrying the notice); it will take the incident's result when the
    incident is closed, and its citizen still gets a callback."""
    with transaction.atomic():
        locked = _locked_incident(incident)
        _check_link(locked, ticket)
        master = locked.master_ticket
        if master is None:
            master = workflow.ticket_create(
                actor=actor,
                channel=ticket.channel,
                category=locked.category,
                content=f"【{locked.get_kind_display()}】{locked.title}\n{locked.notice}",
                is_anonymous=True,
                note=str(_("突发事件主工单")),
            )
            locked.master_ticket = master
            locked._history_user = actor
            locked._change_reason = "master"
            locked.save(update_fields=["master_ticket"])
        ticket = workflow.ticket_merge(ticket=ticket, actor=actor, master=master, note=locked.title)
        IncidentLink.objects.create(
            incident=locked, ticket=ticket, mode=IncidentLink.Mode.MERGED, linked_at=clock.now(), linked_by=actor
        )
    return ticket


INCIDENT_LINKS = {"incident_answer": incident_link_answer, "incident_attach": incident_link_attach}


def incident_link(*, how: str, incident: Incident, ticket: Ticket, actor) -> Ticket:
    """Link by the intake form's action name (``incident_answer`` / ``incident_attach``)."""
    return INCIDENT_LINKS[how](incident=incident, ticket=ticket, actor=actor)


def incident_update(*, incident: Incident, actor) -> None:
    """Refuse a change to a closed incident or by someone who may not manage it (the
    admin form saves the fields after this check and ``incident_validate``)."""
    if incident.pk and not Incident.objects.filter(pk=incident.pk, status=Incident.Status.DECLARED).exists():
        raise ValidationError(ERR_CLOSED, code="closed")
    if not incident_may_manage(actor, incident):
        raise ValidationError(ERR_NOT_MANAGER, code="manager")
