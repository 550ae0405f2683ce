"""One ticket the whole way, as issue 19 asks: the city transfers it to a county
sub-centre, which signs it and dispatches it to a street; the street passes it to
a community, the community to its grid worker; the worker signs, calls, works
and hands it back up; the community hands it back to the street, which replies;
the sub-centre reviews, closes and calls the citizen back. On the way, the
sub-centre's dispatch of a bureau-only category to a street is refused without a
reason and taken with one.

Every step goes through the verbs the admin and the API call. The timeline is
written to ``artifacts/issue-19/walk.txt`` and the catalogue refusal to
``catalogue.txt`` (the closing note quotes them)."""

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine

from cases import workflow
from cases.callbacks import callback_batch, callback_record
from cases.clock import local_day, local_stamp
from cases.models import Callback, DispatchHop, ReplyResult, TicketEvent, TicketState
from cases.selectors.scope import ticket_list
from cases.workflow.events import event_detail
from departments.models import Department
from departments.selectors import person_name
from tests.conftest import add_subcentres, local, new_ticket

K = TicketEvent.Kind
ARTIFACT = Path(__file__).resolve().parents[2] / "artifacts" / "issue-19" / "walk.txt"
CATALOGUE = ARTIFACT.with_name("catalogue.txt")


def _line(event) -> str:
    who = person_name(event.actor) if event.actor else "系统"
    unit = event.actor_department.name if event.actor_department else ""
    detail = event_detail(event)
    states = f"{event.from_state or '—'} → {event.to_state}"
    return (
        f"{local_stamp(event.created_at)}  {event.get_kind_display():<8} {who}（{unit}）  {states}  {detail}".rstrip()
    )


def test_one_ticket_city_to_grid_worker_and_back(city):
    c = add_subcentres(city)
    with time_machine.travel(local(2026, 12, 1, 9, 0), tick=False) as clock:
        t = new_ticket(c)
        # 市中心 → 城东区分中心
        t = workflow.ticket_transfer(ticket=t, actor=c.dispatcher, centre=c.district)
        assert t.centre_id == c.district.pk and t.state == TicketState.RECEIVED
        # the sub-centre must sign before it may dispatch
        with pytest.raises(workflow.WorkflowError, match="请先签收"):
            workflow.ticket_dispatch(ticket=t, actor=c.sub_dispatcher, department=c.street)
        clock.shift(timedelta(minutes=10))
        t = workflow.ticket_centre_sign(ticket=t, actor=c.sub_dispatcher)
        # a sub-centre cannot dispatch outside its county
        with pytest.raises(workflow.WorkflowError):
            workflow.ticket_dispatch(ticket=t, actor=c.sub_dispatcher, department=c.street_w)
        clock.shift(timedelta(minutes=10))
        t = workflow.ticket_dispatch(ticket=t, actor=c.sub_dispatcher, department=c.street)
        clock.shift(timedelta(minutes=20))
        t = workflow.ticket_sign(ticket=t, actor=c.handler)
        # 街道 → 社区 → 网格员, each hop signed before it goes further
        t = workflow.ticket_subdispatch(ticket=t, actor=c.handler, department=c.community, note="请社区上门核实")
        clock.shift(timedelta(minutes=30))
        t = workflow.ticket_sign(ticket=t, actor=c.community_handler)
        t = workflow.ticket_subdispatch(ticket=t, actor=c.community_handler, grid=c.grid, note="网格员入户查看")
        assert t.assignee_worker_id == c.gridworker.pk
        assert ticket_list(user=c.gridworker).filter(pk=t.pk).exists()
        # a street above cannot reply while the ticket is down the chain
        assert K.REPLIED not in workflow.allowed_actions(t, c.handler)
        clock.shift(timedelta(minutes=40))
        t = workflow.ticket_sign(ticket=t, actor=c.gridworker)
        t = workflow.ticket_contact(ticket=t, actor=c.gridworker, note="已电话联系王女士，约定下午入户")
        clock.shift(timedelta(hours=3))
        t = workflow.ticket_progress(ticket=t, actor=c.gridworker, note="入户测温 14℃，已联系热力公司调压")
        t = workflow.ticket_hand_back(ticket=t, actor=c.gridworker, note="调压后复测 19℃，市民认可")
        assert t.assignee_worker_id is None and t.assignee_department_id == c.community.pk
        clock.shift(timedelta(minutes=20))
        t = workflow.ticket_hand_back(ticket=t, actor=c.community_handler, note="网格员已现场处置，室温达标")
        assert t.assignee_department_id == c.street.pk
        clock.shift(timedelta(minutes=20))
        t = workflow.ticket_reply(
            ticket=t,
            actor=c.handler,
            result=ReplyResult.SOLVED,
            text="经社区、网格员入户核实并协调热力公司调压，室温已达19℃。",
        )
        clock.shift(timedelta(hours=1))
        t = workflow.ticket_approve(ticket=t, actor=c.sub_dispatcher)
        assert t.state == TicketState.CLOSED
        closed_day = local_day(t.closed_at)

    with time_machine.travel(local(2026, 12, 2, 9, 0), tick=False):
        callback_batch(day=closed_day)
        cb = Callback.objects.get(ticket=t)
        callback_record(
            callback=cb,
            actor=c.sub_callback,
            contacted=True,
            solved=Callback.Solved.SOLVED,
            satisfaction=Callback.Satisfaction.SATISFIED,
        )

    hops = list(DispatchHop.objects.filter(ticket=t).order_by("sent_at", "pk"))
    assert [
        (h.from_department.name, (h.to_worker and person_name(h.to_worker)) or h.to_department.name) for h in hops
    ] == [
        ("东关大街街道", "东关社区"),
        ("东关社区", person_name(c.gridworker)),
    ]
    assert all(h.signed_at is not None and h.on_time for h in hops)
    assert all(h.ended_at is not None for h in hops)
    kinds = list(t.events.order_by("created_at", "pk").values_list("kind", flat=True))
    assert kinds[:4] == [K.CREATED, K.TRANSFERRED, K.CENTRE_SIGNED, K.DISPATCHED]
    assert kinds.count(K.HANDED_BACK) == 2 and kinds[-1] == K.APPROVED
    # the lead street stayed accountable: every lead fact is the street's
    facts = t.events.filter(kind__in=[K.SIGNED, K.CONTACTED, K.APPROVED], dispatch__isnull=False)
    assert set(facts.values_list("unit_id", flat=True)) == {c.street.pk}

    lines = [_line(e) for e in t.events.select_related("actor", "actor_department").order_by("created_at", "pk")]
    cb.refresh_from_db()
    lines.append(
        f"{local_stamp(cb.completed_at)}  回访      {person_name(cb.agent or c.sub_callback)}"
        f"  {cb.get_satisfaction_display()}"
    )
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(f"工单 {t.number}\n" + "\n".join(lines) + "\n", encoding="utf-8")


def test_off_catalogue_dispatch_needs_a_reason_and_is_flagged(city):
    """派单目录: 噪声 is for bureaus; the sub-centre sending it to a street is refused
    without a reason, and taken — flagged — with one."""
    c = add_subcentres(city)
    c.noise.receiver_kinds = [Department.Kind.BUREAU]
    c.noise.save(update_fields=["receiver_kinds"])
    with time_machine.travel(local(2026, 12, 1, 9, 0), tick=False):
        t = new_ticket(c, category=c.noise, content="东关大街夜间施工噪声扰民")
        t = workflow.ticket_transfer(ticket=t, actor=c.dispatcher, centre=c.district)
        t = workflow.ticket_centre_sign(ticket=t, actor=c.sub_dispatcher)
        with pytest.raises(workflow.WorkflowError) as refused:
            workflow.ticket_dispatch(ticket=t, actor=c.sub_dispatcher, department=c.street)
        t.refresh_from_db()
        assert t.state == TicketState.RECEIVED and not t.events.filter(kind=K.DISPATCHED).exists()
        t = workflow.ticket_dispatch(
            ticket=t, actor=c.sub_dispatcher, department=c.street, catalogue_reason="夜间施工需街道先行现场劝阻"
        )
    event = t.events.get(kind=K.DISPATCHED)
    assert event.off_catalogue is True and event.data["catalogue_reason"] == "夜间施工需街道先行现场劝阻"
    CATALOGUE.parent.mkdir(parents=True, exist_ok=True)
    CATALOGUE.write_text(
        f"目录外派单，无理由：{refused.value}\n"
        f"目录外派单，有理由：已派至 {event.unit.name}，off_catalogue={event.off_catalogue}，"
        f"理由：{event.data['catalogue_reason']}\n",
        encoding="utf-8",
    )
