"""Every workbench tile counts what the list it opens shows (issue 15): for every
role with queues, every queue, on a city with tickets in many states."""

from datetime import date

import pytest
import time_machine
from django.contrib.auth import get_user_model

from cases import workflow
from cases.callbacks import callback_batch, callback_record
from cases.models import Callback, InvalidKind, TicketState, Urge
from cases.selectors.queues import ROLE_QUEUES, SUPERUSER_QUEUES
from departments.roles import Role
from tests.conftest import drive, local, new_ticket

S = TicketState
NOW = local(2026, 11, 23, 11, 30)


@pytest.fixture
def busy_city(city):
    """Tickets in every state the queues look at, built through the workflow."""
    # Two weeks ago: one still in review long after its resolve deadline.
    with time_machine.travel(local(2026, 11, 9, 9, 0), tick=False):
        drive(city, new_ticket(city), S.REVIEWING)
    # Yesterday: closures the callback desk called back today, and late-evening intake.
    with time_machine.travel(local(2026, 11, 22, 10, 0), tick=False):
        unhappy = drive(city, new_ticket(city), S.CLOSED)
        unsolved = drive(city, new_ticket(city), S.CLOSED)
        drive(city, new_ticket(city, actor=city.gridworker), S.CLOSED)
    with time_machine.travel(local(2026, 11, 22, 23, 30), tick=False):
        new_ticket(city)
    with time_machine.travel(local(2026, 11, 23, 8, 0), tick=False):
        callback_batch(day=date(2026, 11, 22))
        for ticket, fault in ((unhappy, False), (unsolved, True)):
            cb = Callback.objects.get(ticket=ticket)
            callback_record(
                callback=cb,
                actor=cb.agent or city.callback,
                contacted=True,
                solved=Callback.Solved.UNSOLVED,
                satisfaction=Callback.Satisfaction.UNSATISFIED,
                unit_at_fault=fault,
            )
    # This morning, just after midnight local time (still "yesterday" in UTC).
    with time_machine.travel(local(2026, 11, 23, 0, 30), tick=False):
        new_ticket(city)
    with time_machine.travel(local(2026, 11, 23, 9, 0), tick=False):
        new_ticket(city)  # to dispatch
        drive(city, new_ticket(city), S.DISPATCHED)  # runs out of sign time by 11:30
        drive(city, new_ticket(city), S.REVIEWING)
        drive(city, new_ticket(city), S.CLOSED)
        workflow.ticket_answer(ticket=new_ticket(city), actor=city.operator, text="已解释政策。")
        workflow.ticket_invalidate(
            ticket=new_ticket(city), actor=city.dispatcher, kind=InvalidKind.HARASSMENT, reason="骚扰电话"
        )
        new_ticket(city, actor=city.gridworker)
        in_hand = drive(city, new_ticket(city), S.HANDLING)
        workflow.ticket_extension_request(ticket=in_hand, actor=city.handler, working_days=1, reason="需协调")
        returning = drive(city, new_ticket(city), S.HANDLING)
        workflow.ticket_return_request(ticket=returning, actor=city.handler, reason="不属本单位职责")
        reworked = drive(city, new_ticket(city), S.REVIEWING)
        workflow.ticket_rework(ticket=reworked, actor=city.dispatcher, reason="未附现场照片")
        urged = drive(city, new_ticket(city), S.HANDLING)
        workflow.ticket_urge(ticket=urged, actor=city.supervisor, kind=Urge.Kind.PHONE, content="请尽快办理。")
        escalated = drive(city, new_ticket(city), S.HANDLING)
        workflow.ticket_escalate(ticket=escalated, actor=city.supervisor, leader=city.leader, reason="群众反映强烈")
        drive(city, new_ticket(city), S.HANDLING, lead=city.street2)
    city.root = get_user_model().objects.create_superuser("root", password="x")
    return city


def _tiles(client, user):
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 200
    return response.context["work_queues"]


def _listed(client, url) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context_data["cl"].result_count


USERS = {
    Role.OPERATOR: "operator",
    Role.DISPATCHER: "dispatcher",
    Role.HANDLER: "handler",
    Role.UNIT_HEAD: "head",
    Role.SUPERVISOR: "supervisor",
    Role.CALLBACK: "callback",
    Role.GRID_WORKER: "gridworker",
    Role.LEADER: "leader",
    "superuser": "root",
}


@pytest.mark.parametrize("role", [*ROLE_QUEUES, "superuser"])
def test_each_tile_counts_the_rows_of_the_list_it_opens(client, busy_city, role):
    user = getattr(busy_city, USERS[role])
    with time_machine.travel(NOW, tick=False):
        tiles = _tiles(client, user)
        expected = SUPERUSER_QUEUES if role == "superuser" else ROLE_QUEUES[role]
        assert [t["key"] for t in tiles if t["key"] in expected] == expected  # every queue of the role
        shown = {t["key"]: (t["count"], _listed(client, t["url"])) for t in tiles}
    assert {key: listed for key, (_count, listed) in shown.items()} == {key: n for key, (n, _l) in shown.items()}
    assert sum(n for n, _listed in shown.values()) > 0  # the city gives every role some work


def test_the_counts_that_used_to_disagree_include_closed_tickets(client, busy_city):
    """回访不满意, 今日受理 and 我上报的 count closed tickets too, and so do their lists."""
    with time_machine.travel(NOW, tick=False):
        counts = {t["key"]: t["count"] for t in _tiles(client, busy_city.supervisor)}
        assert counts["unsatisfied"] == 2  # one reopened, one still closed (not the unit's fault)
        counts = {t["key"]: t["count"] for t in _tiles(client, busy_city.operator)}
        # Today's intake: the 00:30 one and the thirteen of 09:00 (answered, closed and void included).
        assert counts["intake_today"] == 14
        counts = {t["key"]: t["count"] for t in _tiles(client, busy_city.gridworker)}
        assert counts["my_reports"] == 2  # yesterday's (closed) and today's


def test_the_overdue_tiles_count_a_ticket_in_review_past_its_resolve_deadline(client, busy_city):
    with time_machine.travel(NOW, tick=False):
        counts = {t["key"]: t["count"] for t in _tiles(client, busy_city.dispatcher)}
        # The unsigned dispatch (sign clock) and the fortnight-old review (resolve clock).
        assert counts["all_overdue"] == 2
        counts = {t["key"]: t["count"] for t in _tiles(client, busy_city.handler)}
        assert counts["overdue"] == 2
