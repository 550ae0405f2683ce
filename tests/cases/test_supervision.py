"""督办: urges, escalation, 一把手签批, the supervision lists, and clusters."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import workflow
from cases.cluster_actions import cluster_escalate, cluster_merge
from cases.clusters import clusters_detect_for, clusters_sweep
from cases.models import Cluster, Notification, ReplyResult, TicketEvent, TicketState, Urge
from cases.workflow import WorkflowError, WorkflowPermissionError
from departments.roles import Role
from tests.cases.invariants import assert_consistent
from tests.conftest import drive, local, new_ticket
from tests.departments.factories import staff

S = TicketState
Kind = TicketEvent.Kind


@pytest.fixture
def clock():
    with time_machine.travel(local(2026, 11, 23, 9, 0), tick=False) as traveller:
        yield traveller


# -- urges ---------------------------------------------------------------------------------


def test_a_written_urge_is_numbered_notified_and_acknowledged(city, clock, django_capture_on_commit_callbacks):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    with django_capture_on_commit_callbacks(execute=True):
        urge = workflow.ticket_urge(
            ticket=ticket, actor=city.supervisor, kind=Urge.Kind.WRITTEN, content="请于明日前办结并书面反馈。"
        )
    assert urge.number == "催办〔2026〕0001号" and urge.department == city.street
    assert urge.respond_by == local(2026, 11, 24, 9, 0)
    assert ticket.events.last().kind == Kind.URGED
    assert set(Notification.objects.filter(kind="event").values_list("recipient__username", flat=True)) >= {
        "handler_street",
        "head_street",
    }
    phone = workflow.ticket_urge(ticket=ticket, actor=city.supervisor, kind=Urge.Kind.PHONE, content="电话催办")
    assert phone.number == ""
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_urge_acknowledge(ticket=ticket, actor=city.handler2, urge=urge, reply="…")
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_urge(ticket=ticket, actor=city.handler, kind=Urge.Kind.PHONE, content="…")
    workflow.ticket_urge_acknowledge(ticket=ticket, actor=city.head, urge=urge, reply="已安排专人，明日上午办结。")
    urge.refresh_from_db()
    assert urge.acknowledged_by == city.head and urge.acknowledgement.startswith("已安排")
    with pytest.raises(WorkflowError):
        workflow.ticket_urge_acknowledge(ticket=ticket, actor=city.head, urge=urge, reply="再次")
    assert_consistent(ticket)


def test_the_urge_notice_prints_for_the_unit_but_not_for_others(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    urge = workflow.ticket_urge(ticket=ticket, actor=city.supervisor, kind=Urge.Kind.WRITTEN, content="请速办。")
    url = reverse("admin:cases_urge_print", args=[urge.pk])
    client.force_login(city.handler)
    page = client.get(url).content.decode()
    assert "催办通知书" in page and urge.number in page and "东关大街街道：" in page
    client.force_login(city.handler2)
    assert client.get(url).status_code == 404


def test_urge_buttons_on_the_ticket_page(client, city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    client.force_login(city.supervisor)
    url = reverse("admin:cases_ticket_action", args=[ticket.pk, Kind.URGED])
    response = client.post(url, {"urge_kind": "written", "content": "请速办"})
    assert response.status_code == 302
    urge = Urge.objects.get()
    client.force_login(city.handler)
    url = reverse("admin:cases_ticket_action", args=[ticket.pk, Kind.URGE_ACKNOWLEDGED])
    assert client.post(url, {"urge": urge.pk, "reply": "已办"}).status_code == 302
    assert Urge.objects.get().acknowledged_at is not None
    # The timeline line names the urge's kind and its notice number.
    page = client.get(reverse("admin:cases_ticket_change", args=[ticket.pk])).content.decode()
    assert f'<span class="event-detail">书面催办（催办通知书） {urge.number}</span>' in page
    assert f'<span class="event-detail">{urge.number}</span>' in page  # its acknowledgement


# -- escalation and sign-off -----------------------------------------------------------------


def test_escalation_shortens_the_deadline_and_requires_the_heads_signature(
    city, clock, django_capture_on_commit_callbacks
):
    ticket = drive(city, new_ticket(city), S.HANDLING)  # resolve due Mon 30 Nov 09:00
    with pytest.raises(WorkflowError):
        workflow.ticket_escalate(ticket=ticket, actor=city.supervisor, leader=city.handler, reason="…")
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_escalate(ticket=ticket, actor=city.dispatcher, leader=city.leader, reason="…")
    with django_capture_on_commit_callbacks(execute=True):
        ticket = workflow.ticket_escalate(
            ticket=ticket, actor=city.supervisor, leader=city.leader, reason="一人多次反映，双交办。"
        )
    assert ticket.resolve_due_at == local(2026, 11, 25, 9, 0)  # two working days from now
    assert (ticket.escalated_to, ticket.head_signoff_required) == (city.leader, True)
    assert Notification.objects.filter(recipient=city.leader, ticket=ticket).exists()
    # escalating again later never extends the deadline
    clock.move_to(local(2026, 11, 24, 17, 0))
    ticket = workflow.ticket_escalate(ticket=ticket, actor=city.supervisor, leader=city.leader, reason="再次")
    assert ticket.resolve_due_at == local(2026, 11, 25, 9, 0)
    assert_consistent(ticket)


def test_a_handlers_reply_waits_for_the_unit_head(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    workflow.ticket_require_signoff(ticket=ticket, actor=city.supervisor, reason="一把手签批")
    ticket = workflow.ticket_reply(ticket=ticket, actor=city.handler, result=ReplyResult.SOLVED, text="已修复")
    assert (ticket.state, ticket.signoff_pending) == (S.HANDLING, True)
    assert ticket.events.last().kind == Kind.REPLY_DRAFTED
    with pytest.raises(WorkflowPermissionError):
        workflow.ticket_head_sign(ticket=ticket, actor=city.handler)
    ticket = workflow.ticket_head_return(ticket=ticket, actor=city.head, reason="补充现场照片")
    assert not ticket.signoff_pending
    with pytest.raises(WorkflowError):
        workflow.ticket_head_sign(ticket=ticket, actor=city.head)
    workflow.ticket_reply(ticket=ticket, actor=city.handler, result=ReplyResult.SOLVED, text="已修复，附照片")
    ticket = workflow.ticket_head_sign(ticket=ticket, actor=city.head, note="同意上报")
    assert ticket.state == S.REVIEWING and ticket.replied_at == local(2026, 11, 23, 9, 0)
    assert_consistent(ticket)


def test_the_unit_head_replies_directly(city, clock):
    ticket = drive(city, new_ticket(city), S.HANDLING)
    workflow.ticket_require_signoff(ticket=ticket, actor=city.dispatcher)
    ticket = workflow.ticket_reply(ticket=ticket, actor=city.head, result=ReplyResult.SOLVED, text="已修复")
    assert ticket.state == S.REVIEWING


# -- the supervision lists -------------------------------------------------------------------------


SUPERVISION = [
    "all_overdue",
    "all_due_soon",
    "unsatisfied",
    "reworked3",
    "passed3",
    "clustered",
    "escalated",
    "urges_unacked",
    "off_catalogue",
]


@pytest.mark.parametrize("queue", SUPERVISION)
def test_each_supervision_list_answers_with_flat_query_counts(client, city, clock, queue):
    client.force_login(city.supervisor)
    url = reverse("admin:cases_ticket_changelist") + f"?queue={queue}"
    drive(city, new_ticket(city), S.HANDLING)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for _ in range(6):
        drive(city, new_ticket(city), S.HANDLING)
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many.captured_queries) == len(few.captured_queries) <= 15


def test_supervision_lists_find_their_tickets(client, city, clock):
    reworked = drive(city, new_ticket(city), S.REVIEWING)
    for n in range(3):
        reworked = workflow.ticket_rework(ticket=reworked, actor=city.dispatcher, reason=f"第{n}次")
        if n < 2:
            reworked = workflow.ticket_reply(ticket=reworked, actor=city.handler, result="solved", text="…")
    passed = new_ticket(city)
    for unit in (city.street, city.street2, city.bureau):
        passed = workflow.ticket_dispatch(ticket=passed, actor=city.dispatcher, department=unit)
    urged = drive(city, new_ticket(city), S.HANDLING)
    workflow.ticket_urge(ticket=urged, actor=city.supervisor, kind="phone", content="电话催办")
    client.force_login(city.supervisor)

    def listed(queue):
        page = client.get(reverse("admin:cases_ticket_changelist"), {"queue": queue}).content.decode()
        return {t.number for t in (reworked, passed, urged) if f">{t.number}<" in page}

    assert listed("reworked3") == {reworked.number}
    assert listed("passed3") == {passed.number}
    assert listed("urges_unacked") == {urged.number}
    # units do not get the supervisors' lists
    client.force_login(city.handler)
    page = client.get(reverse("admin:cases_ticket_changelist"), {"queue": "reworked3"}).content.decode()
    assert f">{passed.number}<" not in page


# -- clusters -----------------------------------------------------------------------------------


def test_repeat_caller_threshold(city, clock, settings):
    settings.HOTLINE_REPEAT_CALLER_COUNT = 3
    first = new_ticket(city, citizen_phone="13711112222", address="")
    second = new_ticket(city, citizen_phone="13711112222", address="")
    assert clusters_detect_for(second) == []  # two is not yet a pattern
    clock.shift(timedelta(days=10))
    third = new_ticket(city, citizen_phone="13711112222", address="")
    [cluster] = clusters_detect_for(third)
    assert cluster.kind == Cluster.Kind.REPEAT_CALLER and cluster.size == 3
    assert set(cluster.tickets.all()) == {first, second, third}
    clock.shift(timedelta(days=25))  # the first two fall out of the 30-day window
    assert clusters_detect_for(new_ticket(city, citizen_phone="13711112222", address="")) == []


def test_mass_complaint_threshold_and_the_sweep(city, clock, settings):
    settings.HOTLINE_MASS_COUNT = 4
    tickets = [new_ticket(city, citizen_phone=f"1390000000{i}", content=f"第{i}户反映小区路灯不亮") for i in range(3)]
    assert not any(k == Cluster.Kind.MASS for k in (c.kind for c in clusters_detect_for(tickets[-1])))
    tickets.append(new_ticket(city, citizen_phone="13900000009"))
    found = {c.kind: c for c in clusters_detect_for(tickets[-1])}
    assert found[Cluster.Kind.MASS].size == 4
    # running the sweep (and detection) again changes nothing
    clusters_sweep()
    clusters_detect_for(tickets[-1])
    assert Cluster.objects.filter(kind=Cluster.Kind.MASS).count() == 1
    assert Cluster.objects.get(kind=Cluster.Kind.MASS).size == 4


def test_a_growing_mass_event_adds_each_call_once_in_constant_queries(city, clock, settings):
    settings.HOTLINE_MASS_COUNT = 3
    costs = []
    for i in range(12):
        ticket = new_ticket(city, citizen_phone=f"1390000{i:04d}", content=f"第{i}户：变压器跳闸，整栋楼停电")
        with CaptureQueriesContext(connection) as ctx:
            clusters_detect_for(ticket)
        costs.append(len(ctx.captured_queries))
    cluster = Cluster.objects.get(kind=Cluster.Kind.MASS)
    assert cluster.size == cluster.members.count() == 12
    assert cluster.last_at == ticket.received_at
    assert costs[4] == costs[11]  # the 12th call joins in as many queries as the 5th


def test_similar_texts_in_one_community_cluster_across_categories(city, clock, settings):
    settings.HOTLINE_MASS_COUNT = 3
    texts = [
        "东关大街1号院暖气不热室温只有14度",
        "东关大街1号院暖气不热室温只有15度",
        "东关大街1号院暖气不热室温只有13度",
    ]
    categories = [city.cold_room, city.heating, city.noise]
    made = [
        new_ticket(city, content=t, category=c, citizen_phone=f"1360000000{i}")
        for i, (t, c) in enumerate(zip(texts, categories, strict=True))
    ]
    kinds = {c.kind for c in clusters_detect_for(made[-1])}
    assert Cluster.Kind.SIMILAR in kinds


def test_the_sweep_finds_what_intake_missed(city, clock, settings):
    settings.HOTLINE_REPEAT_CALLER_COUNT = 3
    for _ in range(3):
        new_ticket(city, citizen_phone="13755556666", address="")
    Cluster.objects.all().delete()
    assert clusters_sweep() >= 1
    assert Cluster.objects.get(kind=Cluster.Kind.REPEAT_CALLER).size == 3


def test_clusters_are_escalated_or_merged_from_their_page(client, city, clock, settings):
    settings.HOTLINE_MASS_COUNT = 3
    handling = drive(city, new_ticket(city, citizen_phone="13600000001"), S.HANDLING)
    fresh = [new_ticket(city, citizen_phone=f"1360000001{i}") for i in range(2)]
    [cluster] = [c for c in clusters_detect_for(fresh[-1]) if c.kind == Cluster.Kind.MASS]
    client.force_login(city.supervisor)
    url = reverse("admin:cases_cluster_detail", args=[cluster.pk])
    page = client.get(url).content.decode()
    assert all(t.number in page for t in [handling, *fresh])
    response = client.post(url, {"_action": "merge"})
    assert response.status_code == 302
    assert {t.state for t in cluster.tickets.exclude(pk=handling.pk)} == {S.MERGED}
    response = client.post(url, {"_action": "escalate", "leader": city.leader.pk, "reason": "多人集中反映"})
    assert response.status_code == 302
    handling.refresh_from_db()
    cluster.refresh_from_db()
    assert handling.escalated_to == city.leader and cluster.status == Cluster.Status.ESCALATED


def test_units_never_see_clusters(client, city, clock, settings):
    settings.HOTLINE_MASS_COUNT = 2
    tickets = [new_ticket(city, citizen_phone=f"1350000000{i}") for i in range(2)]
    [cluster] = [c for c in clusters_detect_for(tickets[-1]) if c.kind == Cluster.Kind.MASS]
    client.force_login(city.handler)
    assert client.get(reverse("admin:cases_cluster_detail", args=[cluster.pk])).status_code == 404
    assert client.get(reverse("admin:cases_cluster_changelist")).status_code == 403


def test_cluster_service_functions(city, clock, settings):
    settings.HOTLINE_MASS_COUNT = 2
    a = drive(city, new_ticket(city, citizen_phone="13400000001"), S.HANDLING)
    b = new_ticket(city, citizen_phone="13400000002")
    [cluster] = [c for c in clusters_detect_for(b) if c.kind == Cluster.Kind.MASS]
    master, merged = cluster_merge(cluster=cluster, actor=city.dispatcher)
    assert master == a and [t.pk for t in merged] == [b.pk]
    escalated = cluster_escalate(cluster=cluster, actor=city.supervisor, leader=city.leader, reason="双交办")
    assert [t.pk for t in escalated] == [a.pk]


def test_intake_detects_clusters(city, clock, settings, django_capture_on_commit_callbacks):
    settings.HOTLINE_REPEAT_CALLER_COUNT = 2
    with django_capture_on_commit_callbacks(execute=True):
        new_ticket(city, citizen_phone="13311112222")
        new_ticket(city, citizen_phone="13311112222")
    assert Cluster.objects.filter(kind=Cluster.Kind.REPEAT_CALLER, size=2).exists()


def test_role_for_leader_escalations(client, city, clock):
    other_leader = staff(Role.LEADER, city.city, "leader2")
    ticket = drive(city, new_ticket(city), S.HANDLING)
    workflow.ticket_escalate(ticket=ticket, actor=city.supervisor, leader=other_leader, reason="交办")
    client.force_login(other_leader)
    page = client.get("/admin/").content.decode()
    assert 'data-queue="escalated_to_me">1<' in page
