"""Query-count guards: every admin changelist costs the same number of queries with a
few rows as with more (no query per row), for a superuser over a small city."""

from datetime import date, timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases import workflow
from cases.api_keys import api_key_issue
from cases.callbacks import callback_batch
from cases.clusters import clusters_sweep
from cases.incidents import incident_declare
from cases.models import Channel, Holiday, Incident, KnowledgeArticle, Theme, Urge, WorkingCalendar
from cases.notifications.inbox import notifications_create
from cases.privacy import citizen_reveal
from departments.models import Department, DutyAssignment
from departments.roles import Role
from reports.export_jobs import export_create
from reports.models import Report, ReportSubscription, Spike
from tests.cases.factories import CategoryFactory
from tests.conftest import drive, new_ticket
from tests.departments.factories import DepartmentFactory, GridFactory, staff

MODELS = sorted(admin.site._registry, key=lambda model: model._meta.label)


def grow(city, n: int, *, tag: str):
    """``n`` more of nearly everything an admin list shows, made through the services."""
    for i in range(n):
        phone = f"1390000{tag}{i:03d}"
        tickets = [new_ticket(city, citizen_phone=phone) for _ in range(3)]  # a repeat caller: a cluster
        drive(city, tickets[0], "closed")
        drive(city, tickets[1], "handling")
        workflow.ticket_urge(ticket=tickets[1], actor=city.supervisor, kind=Urge.Kind.WRITTEN, content="请尽快办理")
        citizen_reveal(user=city.dispatcher, ticket=tickets[2], reason="回电核实")
        export_create(user=city.dispatcher, query="")
        api_key_issue(name=f"app-{tag}-{i}", channel=Channel.APP, created_by=city.dispatcher)
        Holiday.objects.create(date=date(2030, 1, 1) + timedelta(days=int(tag) * 100 + i), is_working_day=False)
        calendar = WorkingCalendar.objects.create(name=f"日历{tag}{i}", kind=WorkingCalendar.Kind.ALWAYS)
        unit = DepartmentFactory(name=f"单位{tag}{i}", kind=Department.Kind.BUREAU, parent=city.city, calendar=calendar)
        staff(Role.HANDLER, unit, f"handler-{tag}-{i}")
        GridFactory(community=city.community_b, worker=city.gridworker)
        category = CategoryFactory(name=f"分类{tag}{i}", code=f"9{tag}{i:02d}", parent=city.environment)
        Spike.objects.create(day=date(2026, 1, 1), community=city.community, category=category, count=9, baseline=1)
        ReportSubscription.objects.create(user=staff(Role.LEADER, city.city, f"leader-{tag}-{i}"), kind="daily")
        KnowledgeArticle.objects.create(question=f"问题{tag}{i}", answer="答复", category=category)
        DutyAssignment.objects.create(category=category, territory=city.street, department=unit)
        day = date(2026, 1, 1) + timedelta(days=int(tag) * 100 + i)
        Report.objects.create(kind="daily", period_start=day, period_end=day, title=f"日小结{tag}{i}")
        notifications_create([{"recipient": city.handler, "ticket": tickets[1], "title": "催办", "body": "请办理"}])
        Theme.objects.create(title=f"每月一题{tag}{i}", lead_department=unit, started_on=day, keywords="暖气")
        incident_declare(
            actor=city.utility_handler,
            declared_by=city.utility,
            kind=Incident.Kind.HEATING,
            title=f"供热管网抢修{tag}{i}",
            category=city.heating,
            departments=[city.street],
            starts_at=timezone.now(),
            notice="部分小区暂停供暖，预计今晚恢复。",
        )
    callback_batch(day=date.today())
    clusters_sweep()


def changelist_queries(client, model) -> int:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    client.get(url)  # warm the per-process caches (calendar, territory index, 2FA flag)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.label)
def test_a_changelist_costs_the_same_queries_for_few_rows_and_for_more(client, city, model):
    client.force_login(get_user_model().objects.create_superuser("root", password="x"))
    grow(city, 1, tag="1")
    few = changelist_queries(client, model)
    grow(city, 4, tag="2")
    assert model._default_manager.count() > 1 or model._meta.app_label == "axes"  # no login failures here
    assert changelist_queries(client, model) == few
