"""Data scope (DESIGN §2): who sees which tickets."""

import pytest

from cases import workflow
from cases.models import Channel, TicketState
from cases.selectors.scope import ticket_get, ticket_list
from tests.conftest import drive, new_ticket

S = TicketState


@pytest.fixture
def tickets(city):
    """One ticket in each unit's hands."""
    t = {}
    t["street"] = drive(city, new_ticket(city), S.HANDLING)
    t["street2"] = drive(city, new_ticket(city, address="八一中路1号"), S.DISPATCHED, lead=city.street2)
    t["bureau"] = drive(city, new_ticket(city), S.DISPATCHED, lead=city.bureau)
    t["community"] = workflow.ticket_subdispatch(
        ticket=drive(city, new_ticket(city), S.HANDLING), actor=city.handler, department=city.community
    )
    t["received"] = new_ticket(city, address="")
    t["grid"] = new_ticket(city, actor=city.gridworker, channel=Channel.GRID, grid=city.grid)
    return t


def visible(user):
    return set(ticket_list(user=user).values_list("number", flat=True))


def numbers(tickets, *keys):
    return {tickets[k].number for k in keys}


@pytest.mark.parametrize("role", ["operator", "dispatcher", "supervisor", "callback", "leader"])
def test_centre_roles_and_leaders_see_everything(city, tickets, role):
    assert visible(getattr(city, role)) == numbers(tickets, *tickets)


def test_street_sees_its_own_and_its_communities_tickets(city, tickets):
    assert visible(city.handler) == numbers(tickets, "street", "community")
    assert visible(city.head) == numbers(tickets, "street", "community")


def test_community_sees_only_what_was_passed_down_to_it(city, tickets):
    assert visible(city.community_handler) == numbers(tickets, "community")


def test_other_street_and_bureau_see_only_their_own(city, tickets):
    assert visible(city.handler2) == numbers(tickets, "street2")
    assert visible(city.bureau_handler) == numbers(tickets, "bureau")
    assert visible(city.bureau2_handler) == set()


def test_a_cohandler_sees_the_ticket_it_helps_with(city, tickets):
    workflow.ticket_cohandlers_add(ticket=tickets["street"], actor=city.handler, departments=[city.bureau2])
    assert visible(city.bureau2_handler) == numbers(tickets, "street")


def test_grid_worker_sees_their_grid_and_their_reports(city, tickets):
    # Tickets resolved onto the grid by address, plus the grid worker's own report.
    expected = {t.number for t in tickets.values() if t.grid_id == city.grid.pk}
    assert visible(city.gridworker) == expected
    assert tickets["grid"].number in expected


def test_a_user_without_a_profile_sees_nothing(tickets, django_user_model):
    user = django_user_model.objects.create_user("nobody", password="x", is_staff=True)
    assert visible(user) == set()


def test_guessing_another_units_ticket_gives_nothing(city, tickets):
    assert ticket_get(user=city.handler2, pk=tickets["street"].pk) is None
    assert ticket_get(user=city.handler, pk=tickets["street"].pk) == tickets["street"]


def test_after_a_return_the_unit_no_longer_sees_the_ticket(city, tickets):
    ticket = tickets["street2"]
    workflow.ticket_return_request(ticket=ticket, actor=city.handler2, reason="非本街道辖区")
    workflow.ticket_return_approve(ticket=ticket, actor=city.dispatcher)
    assert ticket.number not in visible(city.handler2)


def test_scope_query_count_is_constant(city, tickets, django_assert_max_num_queries):
    user = city.handler
    ticket_list(user=user).count()  # warms the profile and subtree caches
    # the unit's co-handled ticket ids, then the tickets — whatever their number
    with django_assert_max_num_queries(2):
        list(ticket_list(user=user))
