"""The write path: reference data cached per process (``cases.reference``) and
seen again after a change in any process, and the statements each verb costs."""

from datetime import date

import pytest
import time_machine
from celery.signals import task_prerun
from django.core.signals import request_started
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from cases import reference, workflow
from cases.deadlines.calendar import calendar_for, get_calendar
from cases.deadlines.policy import policy_rows
from cases.models import Category, Holiday, ReferenceStamp, TicketState
from departments.selectors import territory_resolve
from tests.conftest import local, new_ticket

S = TicketState
MONDAY_9 = local(2026, 11, 23, 9, 0)


@pytest.fixture
def clock():
    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


def another_process_bumps_the_stamp():
    """What ``reference_changed`` does in another process: the stamp moves, this
    process's copy stays until it compares."""
    if not ReferenceStamp.objects.filter(pk=1).update(value=F("value") + 1):
        ReferenceStamp.objects.create(pk=1, value=1)


def a_request_starts():
    """What ``request_started`` runs of ours (sending the signal itself would also
    close the test's database connection)."""
    reference.reference_check_due()


def resolve_due(city):
    t = new_ticket(city)
    return workflow.ticket_dispatch(ticket=t, actor=city.dispatcher, department=city.street).resolve_due_at


# -- the cache ---------------------------------------------------------------------


def test_requests_and_tasks_mark_the_comparison_due():
    assert reference.reference_check_due in request_started._live_receivers(None)[0]
    assert any(receiver is reference.reference_check_due for _key, receiver in task_prerun.receivers)


def test_reference_data_is_read_once_per_process(city, clock, settings):
    settings.REFERENCE_RECHECK_SECONDS = 3600
    calendar_for(city.street.pk), policy_rows(), territory_resolve(address="东关大街1号院")
    reference.categories(), reference.units(), reference.grids()
    with CaptureQueriesContext(connection) as queries:
        a_request_starts()  # within the interval: no comparison due
        calendar_for(city.street.pk), get_calendar(), policy_rows(), territory_resolve(address="东关大街1号院")
        reference.categories(), reference.units(), reference.grids(), reference.category_by_code("010101")
    assert len(queries) == 0, [q["sql"] for q in queries.captured_queries]


def test_a_holiday_added_in_another_process_moves_deadlines_after_the_check(city, clock, settings):
    """DESIGN §5: deadlines must not ignore a holiday added later — in another
    process too, once this one compares the stamp (at the next request or task
    after REFERENCE_RECHECK_SECONDS)."""
    settings.REFERENCE_RECHECK_SECONDS = 3600
    before = resolve_due(city)
    Holiday.objects.bulk_create([Holiday(date=date(2026, 11, 25), name="临时休假")])  # no signals: another process
    another_process_bumps_the_stamp()
    a_request_starts()
    assert resolve_due(city) == before  # the interval has not passed: the copy is kept
    settings.REFERENCE_RECHECK_SECONDS = 0
    a_request_starts()
    after = resolve_due(city)
    assert after > before
    assert get_calendar().add_limit(MONDAY_9, 5, "working_day") == after


def test_a_task_start_compares_the_stamp_too(city, clock, settings):
    settings.REFERENCE_RECHECK_SECONDS = 0
    before = resolve_due(city)
    Holiday.objects.bulk_create([Holiday(date=date(2026, 11, 25), name="临时休假")])
    another_process_bumps_the_stamp()
    task_prerun.send(sender=None, task_id="x", task=None)
    assert resolve_due(city) > before


def test_a_holiday_saved_here_moves_deadlines_at_once(city, clock, settings):
    settings.REFERENCE_RECHECK_SECONDS = 3600
    before = resolve_due(city)
    Holiday.objects.create(date=date(2026, 11, 25), name="临时休假")
    assert resolve_due(city) > before
    Holiday.objects.filter(date=date(2026, 11, 25)).delete()  # a queryset delete sends post_delete per row
    assert resolve_due(city) == before


def test_a_category_renamed_in_another_process_is_seen_after_the_check(city, clock, settings):
    settings.REFERENCE_RECHECK_SECONDS = 3600
    assert reference.category_by_code("010101").name == "室温不达标"
    Category.objects.filter(pk=city.cold_room.pk).update(name="室内温度不达标")
    another_process_bumps_the_stamp()
    assert reference.category_by_code("010101").name == "室温不达标"
    settings.REFERENCE_RECHECK_SECONDS = 0
    a_request_starts()
    assert reference.category_by_code("010101").name == "室内温度不达标"
    assert reference.categories()[city.cold_room.pk].name == "室内温度不达标"


def test_a_category_renamed_here_is_seen_at_once(city, clock, settings):
    settings.REFERENCE_RECHECK_SECONDS = 3600
    assert reference.category_by_code("010101").name == "室温不达标"
    city.cold_room.name = "室内温度不达标"
    city.cold_room.save()
    assert reference.category_by_code("010101").name == "室内温度不达标"


def test_new_territory_keywords_resolve_at_once(city, clock, settings):
    settings.REFERENCE_RECHECK_SECONDS = 3600
    assert territory_resolve(address="西大街99号").community is None
    city.community2.address_keywords = "八一中路\n西大街"
    city.community2.save()
    assert territory_resolve(address="西大街99号").community == city.community2


def test_a_bulk_change_calls_reference_changed(city, clock, settings):
    """Code that changes reference data without signals (an import, the demo)
    calls ``reference_changed``: here and in every other process."""
    settings.REFERENCE_RECHECK_SECONDS = 3600
    before = resolve_due(city)
    stamp = ReferenceStamp.objects.get(pk=1).value
    Holiday.objects.bulk_create([Holiday(date=date(2026, 11, 25), name="临时休假")])
    reference.reference_changed()
    assert ReferenceStamp.objects.get(pk=1).value == stamp + 1
    assert resolve_due(city) > before


def test_a_copy_loaded_in_a_rolled_back_transaction_is_not_kept(city, clock, settings):
    settings.REFERENCE_RECHECK_SECONDS = 0
    before = resolve_due(city)

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction_atomic():
        Holiday.objects.create(date=date(2026, 11, 25), name="临时休假")
        assert resolve_due(city) > before
        raise Rollback
    a_request_starts()
    assert resolve_due(city) == before


def transaction_atomic():
    from django.db import transaction

    return transaction.atomic()


# -- statements per verb -------------------------------------------------------------
#
# A transition: the locking read (with the dispatch and the existence flags), the
# ticket's UPDATE, its history row and the event — plus the savepoint pair the
# test's own transaction adds around the verb's atomic block: at most 6.


def _warm(city):
    """Load the reference data and the actors' profiles once (a process does so
    at its first write after a change)."""
    t = new_ticket(city)
    t = workflow.ticket_dispatch(ticket=t, actor=city.dispatcher, department=city.street)
    t = workflow.ticket_sign(ticket=t, actor=city.handler)


def test_each_main_path_verb_takes_at_most_six_statements(city, clock, settings, django_assert_max_num_queries):
    settings.REFERENCE_RECHECK_SECONDS = 3600
    _warm(city)
    with django_assert_max_num_queries(6):
        t = new_ticket(city)
    with django_assert_max_num_queries(6):
        t = workflow.ticket_dispatch(ticket=t, actor=city.dispatcher, department=city.street)
    with django_assert_max_num_queries(6):
        t = workflow.ticket_sign(ticket=t, actor=city.handler)
    with django_assert_max_num_queries(6):
        t = workflow.ticket_contact(ticket=t, actor=city.handler, note="电话联系王女士，约定上门。")
    with django_assert_max_num_queries(6):
        t = workflow.ticket_reply(ticket=t, actor=city.handler, result="solved", text="已协调热力公司排气。")
    with django_assert_max_num_queries(6):
        t = workflow.ticket_approve(ticket=t, actor=city.dispatcher)
    assert t.state == S.CLOSED


def test_the_facts_still_name_the_dispatch(city, clock):
    """The ids read with the lock are the ones the events record."""
    t = new_ticket(city)
    t = workflow.ticket_dispatch(ticket=t, actor=city.dispatcher, department=city.street)
    dispatch = t.events.get(kind="dispatched")
    t = workflow.ticket_sign(ticket=t, actor=city.handler)
    t = workflow.ticket_contact(ticket=t, actor=city.handler, note="电话联系王女士。")
    t = workflow.ticket_reply(ticket=t, actor=city.handler, result="solved", text="已修好。")
    t = workflow.ticket_approve(ticket=t, actor=city.dispatcher)
    facts = dict(t.events.exclude(kind__in=["created", "dispatched", "replied"]).values_list("kind", "dispatch_id"))
    assert facts == {"signed": dispatch.pk, "contacted": dispatch.pk, "approved": dispatch.pk}


def test_a_redispatch_still_withdraws_cohandlers_and_cancels_applications(city, clock):
    """The verbs skip these statements only when the lock's flags say there is
    nothing to change."""
    t = new_ticket(city)
    t = workflow.ticket_dispatch(ticket=t, actor=city.dispatcher, department=city.street, cohandlers=[city.bureau])
    assert t.cohandlings.filter(status="pending").count() == 1
    t = workflow.ticket_dispatch(ticket=t, actor=city.dispatcher, department=city.street2)
    assert not t.cohandlings.exclude(status="cancelled").exists()
