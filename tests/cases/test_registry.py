"""The verb registry holds every door's view of a verb together: each event kind
has one row, each action a form, a function, and (with a slug) an API endpoint."""

import inspect

from django.urls import reverse

from cases.admin.forms import ACTION_FORMS
from cases.api.serializers import ACTION_SERIALIZERS
from cases.models import TicketEvent
from cases.workflow import TRANSITIONS, VERBS, events
from cases.workflow.registry import PUBLIC_KINDS

Kind = TicketEvent.Kind
ACTIONABLE = [verb for verb in VERBS.values() if verb.actionable]
API_VERBS = [verb for verb in VERBS.values() if verb.slug]


def test_every_event_kind_has_one_row_and_one_transition_rule():
    assert set(VERBS) == set(TRANSITIONS) == set(Kind.values)
    assert all(kind == verb.kind for kind, verb in VERBS.items())


def test_every_action_has_an_admin_form_and_a_function():
    assert set(ACTION_FORMS) == {verb.kind for verb in ACTIONABLE}
    for verb in ACTIONABLE:
        assert ACTION_FORMS[verb.kind].kind == verb.kind
        assert callable(verb.function), verb.kind


def test_every_api_verb_has_a_serializer_and_an_endpoint():
    assert set(ACTION_SERIALIZERS) == {verb.kind for verb in API_VERBS}
    for verb in API_VERBS:
        assert verb.actionable, verb.kind
        url = reverse(f"api:ticket-{verb.slug}", kwargs={"number": "20261123-00001"})
        assert url == f"/api/v1/tickets/20261123-00001/{verb.slug}/"


def test_api_fields_are_the_verbs_keyword_arguments():
    """The endpoint calls ``verb.function(ticket=…, actor=…, **validated_data)``."""
    for verb in API_VERBS:
        parameters = inspect.signature(verb.function).parameters
        fields = set(ACTION_SERIALIZERS[verb.kind]().fields)
        assert fields <= set(parameters) - {"ticket", "actor"}, (verb.kind, fields)


def test_slugs_and_labels_are_unique():
    slugs = [verb.slug for verb in API_VERBS]
    labels = [str(verb.label) for verb in ACTIONABLE]
    assert len(slugs) == len(set(slugs))
    assert len(labels) == len(set(labels))


def test_who_is_told_comes_with_what_they_are_told():
    for verb in VERBS.values():
        assert (verb.template is None) == (verb.audience is None), verb.kind
        if verb.template is not None:
            assert "%(number)s" in str(verb.template)


def test_the_public_steps():
    assert Kind.DISPATCHED in PUBLIC_KINDS and Kind.CREATED in PUBLIC_KINDS
    assert Kind.PROGRESS not in PUBLIC_KINDS  # a unit's working notes stay inside
    assert Kind.URGED not in PUBLIC_KINDS


def test_payloads_carry_the_keys_their_readers_use():
    class Unit:
        pk, name = 7, "东关大街街道"

    # The timeline and the public text read data.department.name; the co-handling
    # notice reads the ids of data.cohandlers.
    for data in (
        events.dispatched_data(
            department=Unit(),
            previous=None,
            cohandlers=[Unit()],
            sign_due_at=None,
            resolve_due_at=None,
            became_problem=False,
        ),
        events.return_approved_data(application=Unit(), department=Unit()),
        events.subdispatched_data(department=Unit(), previous=Unit()),
    ):
        assert data["department"] == {"id": 7, "name": "东关大街街道"}
    assert events.cohandlers_added_data(cohandlers=[Unit()])["cohandlers"] == [{"id": 7, "name": "东关大街街道"}]
    assert events.signed_data(department=Unit()) == {"department": {"id": 7, "name": "东关大街街道"}}
