"""Working calendars per unit (inherited down the unit tree) and deadline
policies scoped to a territory or unit (DESIGN §5)."""

from datetime import date, timedelta

import pytest
import time_machine

from cases import workflow
from cases.deadlines.calendar import WallCalendar, calendar_for, effective_calendar_ids, get_calendar
from cases.deadlines.policy import deadline_limits, ticket_policy_explain
from cases.models import DeadlinePolicy, Holiday, Nature, Ticket, TicketState, TimeUnit, Urgency, WorkingCalendar
from tests.conftest import drive, local, new_ticket

S = TicketState
MONDAY_9 = local(2026, 11, 23, 9, 0)
FRIDAY_17 = local(2026, 11, 27, 17, 0)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


def always(name="全天候"):
    return WorkingCalendar.objects.create(name=name, kind=WorkingCalendar.Kind.ALWAYS)


def assign(unit, calendar, capture):
    with capture(execute=True):
        unit.calendar = calendar
        unit.save()


# -- 24×7 ---------------------------------------------------------------------------


def test_a_24x7_calendar_counts_wall_time_and_ignores_holidays(db):
    Holiday.objects.create(date=date(2026, 11, 30), name="临时休假")
    cal = WallCalendar()
    assert cal.add_limit(FRIDAY_17, 2, TimeUnit.WORKING_HOUR) == FRIDAY_17 + timedelta(hours=2)
    assert cal.add_limit(FRIDAY_17, 5, TimeUnit.WORKING_DAY) == FRIDAY_17 + timedelta(days=5)
    assert cal.working_minutes_between(FRIDAY_17, FRIDAY_17 + timedelta(days=1)) == 1440
    assert cal.is_working_day(date(2026, 11, 29)) and cal.is_working_day(date(2026, 11, 30))
    due = FRIDAY_17 + timedelta(days=5)
    assert cal.warn_time(FRIDAY_17, due, TimeUnit.WORKING_DAY) == FRIDAY_17 + timedelta(hours=90)  # 75 %
    office = get_calendar()
    assert office.add_limit(FRIDAY_17, 2, TimeUnit.WORKING_HOUR) > FRIDAY_17 + timedelta(days=2)


def test_custom_segments_keep_the_holidays(db):
    row = WorkingCalendar.objects.create(
        name="延时服务", kind=WorkingCalendar.Kind.CUSTOM, segments=["08:00-12:00", "13:00-21:00"]
    )
    cal_id = row.pk
    from departments.models import Department

    unit = Department.objects.create(name="便民服务站", kind=Department.Kind.BUREAU, calendar=row)
    cal = calendar_for(unit.pk)
    assert cal.day_minutes == 12 * 60
    assert cal.add_limit(FRIDAY_17, 4, TimeUnit.WORKING_HOUR) == local(2026, 11, 27, 21, 0)
    assert not cal.is_working_day(date(2026, 11, 28))  # Saturday
    assert cal_id == unit.calendar_id


# -- inheritance --------------------------------------------------------------------


def test_units_inherit_the_nearest_ancestors_calendar(city):
    wall = always()
    custom = WorkingCalendar.objects.create(name="社区值守", kind=WorkingCalendar.Kind.CUSTOM, segments=["07:00-22:00"])
    city.district.calendar = wall
    city.district.save()
    city.community.calendar = custom
    city.community.save()
    assert isinstance(calendar_for(city.street.pk), WallCalendar)  # from the district
    assert isinstance(calendar_for(city.community_b.pk), WallCalendar)  # street → district
    assert calendar_for(city.community.pk).day_minutes == 15 * 60  # its own wins
    assert calendar_for(city.bureau.pk) is get_calendar()  # no ancestor has one
    assert calendar_for(None) is get_calendar()


def test_effective_calendar_ids_walks_the_path():
    units = [(1, "/1/", None), (2, "/1/2/", 7), (3, "/1/2/3/", None), (4, "/1/2/3/4/", 8), (5, "/1/5/", None)]
    assert effective_calendar_ids(units) == {2: 7, 3: 7, 4: 8}


def test_a_24x7_unit_gets_wall_clock_deadlines_on_dispatch(city, clock):
    city.utility.calendar = always()
    city.utility.save()
    clock.move_to(FRIDAY_17)
    ticket = workflow.ticket_dispatch(ticket=new_ticket(city), actor=city.dispatcher, department=city.utility)
    assert ticket.sign_due_at == FRIDAY_17 + timedelta(hours=2)
    assert ticket.resolve_due_at == FRIDAY_17 + timedelta(days=5)


# -- re-timing on a calendar change -------------------------------------------------


def test_assigning_a_calendar_re_times_the_units_open_tickets(city, clock, django_capture_on_commit_callbacks):
    ticket = drive(city, new_ticket(city), S.HANDLING)  # the street, office hours
    other = drive(city, new_ticket(city), S.HANDLING, lead=city.bureau)
    assert ticket.resolve_due_at == local(2026, 11, 30, 9, 0)
    bureau_due = other.resolve_due_at
    assign(city.district, always(), django_capture_on_commit_callbacks)  # inherited by the street
    ticket.refresh_from_db()
    other.refresh_from_db()
    assert ticket.resolve_due_at == MONDAY_9 + timedelta(days=5)
    assert other.resolve_due_at == bureau_due  # the bureau is not under the district
    event = ticket.events.last()
    assert (event.kind, event.data["reason"]) == ("deadlines_retimed", "calendar")


def test_changing_a_calendars_kind_re_times_too(city, clock, django_capture_on_commit_callbacks):
    wall = always()
    assign(city.street, wall, django_capture_on_commit_callbacks)
    ticket = drive(city, new_ticket(city), S.HANDLING)
    assert ticket.resolve_due_at == MONDAY_9 + timedelta(days=5)
    with django_capture_on_commit_callbacks(execute=True):
        wall.kind = WorkingCalendar.Kind.OFFICE
        wall.save()
    ticket.refresh_from_db()
    assert ticket.resolve_due_at == local(2026, 11, 30, 9, 0)


# -- policies per unit / territory ---------------------------------------------------


@pytest.fixture
def scoped(city):
    """A policy table with every scope: the precedence cases below read it."""

    def row(name, **values):
        return DeadlinePolicy.objects.create(name=name, **values)

    row("区县", department=city.district, resolve_limit=8, resolve_unit=TimeUnit.WORKING_DAY)
    row("街道", department=city.street, resolve_limit=7, resolve_unit=TimeUnit.WORKING_DAY)
    row("供暖", category=city.heating, resolve_limit=15, resolve_unit=TimeUnit.WORKING_DAY)
    row(
        "街道×供暖",
        department=city.street,
        category=city.heating,
        resolve_limit=6,
        resolve_unit=TimeUnit.WORKING_DAY,
    )
    row(
        "社区紧急签收",
        department=city.community,
        urgency=Urgency.URGENT,
        sign_limit=20,
        sign_unit=TimeUnit.MINUTE,
        resolve_limit=12,
        resolve_unit=TimeUnit.HOUR,
    )
    row("区县紧急", department=city.district, urgency=Urgency.URGENT, sign_limit=30, sign_unit=TimeUnit.MINUTE)
    return city


@pytest.mark.parametrize(
    ("unit", "category", "urgency", "expected_sign", "expected_resolve", "why"),
    [
        ("street", "heating", "normal", (2, "working_hour"), (6, "working_day"), "category × unit beats category"),
        ("street", "noise", "normal", (2, "working_hour"), (7, "working_day"), "the unit beats its territory"),
        ("street2", "noise", "normal", (2, "working_hour"), (8, "working_day"), "the territory ancestor"),
        ("street2", "heating", "normal", (2, "working_hour"), (8, "working_day"), "unit scope beats category"),
        ("bureau", "heating", "normal", (2, "working_hour"), (15, "working_day"), "outside the territory"),
        ("bureau", "noise", "normal", (2, "working_hour"), (5, "working_day"), "the base row"),
        ("community", "noise", "urgent", (20, "minute"), (12, "hour"), "nearest unit with the urgency"),
        ("community_b", "noise", "urgent", (30, "minute"), (24, "hour"), "the farther urgent row"),
        ("street", "heating", "urgent", (30, "minute"), (24, "hour"), "urgency first, then the unit"),
        (None, "heating", "normal", (2, "working_hour"), (15, "working_day"), "no unit: unscoped rows only"),
    ],
)
def test_precedence(scoped, unit, category, urgency, expected_sign, expected_resolve, why):
    limits = deadline_limits(
        category=getattr(scoped, category),
        urgency=urgency,
        nature=Nature.COMPLAINT,
        department=getattr(scoped, unit) if unit else None,
    )
    assert (limits.sign, limits.resolve) == (expected_sign, expected_resolve), why


def test_a_unit_row_with_the_same_scope_is_unique(scoped):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        DeadlinePolicy.objects.create(
            name="重复", department=scoped.street, resolve_limit=3, resolve_unit=TimeUnit.WORKING_DAY
        )
    DeadlinePolicy.objects.create(
        name="另一街道", department=scoped.street2, resolve_limit=3, resolve_unit="working_day"
    )


def test_a_sub_dispatch_to_a_duty_point_runs_on_its_20_minute_policy(scoped, clock):
    ticket = drive(scoped, new_ticket(scoped, urgency=Urgency.URGENT), S.HANDLING)
    clock.move_to(local(2026, 11, 23, 9, 30))
    ticket = workflow.ticket_subdispatch(ticket=ticket, actor=scoped.handler, department=scoped.community)
    assert ticket.sign_due_at == local(2026, 11, 23, 9, 50)
    explained = {c.clock: c for c in ticket_policy_explain(Ticket.objects.get(pk=ticket.pk))}
    assert explained["sign"].row.name == "社区紧急签收"
    assert explained["sign"].department == scoped.community
    assert explained["resolve"].department == scoped.street
    assert explained["contact"].row.name != "社区紧急签收"


def test_the_policy_page_says_which_rule_applies_to_a_ticket(scoped, clock, client, admin_user):
    ticket = drive(scoped, new_ticket(scoped), S.HANDLING)
    client.force_login(admin_user)
    page = client.get("/admin/cases/deadlinepolicy/", {"ticket": ticket.number}).content.decode()
    assert "街道×供暖" in page and "适用于本单位" in page
    missing = client.get("/admin/cases/deadlinepolicy/", {"ticket": "20990101-99999"}).content.decode()
    assert "未找到工单" in missing


def test_custom_calendar_segments_are_checked_in_the_admin(db, client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/admin/cases/workingcalendar/add/", {"name": "坏时段", "kind": "custom", "segments": '["18:00-08:00"]'}
    )
    assert response.status_code == 200 and not WorkingCalendar.objects.exists()
    response = client.post(
        "/admin/cases/workingcalendar/add/", {"name": "晚间", "kind": "custom", "segments": '["08:00-20:00"]'}
    )
    assert response.status_code == 302 and WorkingCalendar.objects.get().segments == ["08:00-20:00"]
