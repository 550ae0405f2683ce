"""Reference-data pages: the role that maintains them can use them, query counts
stay flat as lists grow, and units only read them."""

from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import Category, DeadlinePolicy, Holiday, KnowledgeArticle
from departments.models import Department, DutyAssignment, Grid
from departments.roles import Role
from tests.cases.factories import CategoryFactory
from tests.departments.factories import DepartmentFactory, GridFactory, staff

User = get_user_model()


def grow(kind, city, n):
    for i in range(n):
        if kind == "department":
            DepartmentFactory(kind=Department.Kind.BUREAU, parent=city.city)
        elif kind == "grid":
            GridFactory(community=city.community)
        elif kind == "dutyassignment":
            DutyAssignment.objects.create(category=CategoryFactory(parent=city.noise), department=city.bureau2)
        elif kind == "category":
            CategoryFactory(parent=city.environment)
        elif kind == "holiday":
            Holiday.objects.create(date=date(2030, 1, 1) + timedelta(days=Holiday.objects.count()), name="假日")
        elif kind == "knowledgearticle":
            KnowledgeArticle.objects.create(
                question=f"问题{i}-{KnowledgeArticle.objects.count()}", answer="答复", category=city.consult
            )
        elif kind == "user":
            staff(Role.HANDLER, city.bureau, f"extra{i}-{User.objects.count()}")
        elif kind == "deadlinepolicy":
            DeadlinePolicy.objects.create(
                name="规则", category=CategoryFactory(parent=city.noise), resolve_limit=3, resolve_unit="working_day"
            )


PAGES = [
    ("departments", "department", "admin"),
    ("departments", "grid", "admin"),
    ("departments", "dutyassignment", "dispatcher"),
    ("cases", "category", "admin"),
    ("cases", "holiday", "dispatcher"),
    ("cases", "knowledgearticle", "dispatcher"),
    ("cases", "deadlinepolicy", "admin"),
    ("auth", "user", "admin"),
]


@pytest.mark.parametrize(("app", "model", "role"), PAGES)
def test_reference_changelists_have_flat_query_counts(client, admin_user, city, app, model, role):
    user = admin_user if role == "admin" else getattr(city, role)
    client.force_login(user)
    url = f"/admin/{app}/{model}/"
    grow(model, city, 3)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    grow(model, city, 15)
    client.get(url)  # saving holidays refreshes the calendar cache once
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize(("app", "model", "role"), PAGES)
def test_reference_pages_for_their_maintainers(client, admin_user, city, app, model, role):
    user = admin_user if role == "admin" else getattr(city, role)
    client.force_login(user)
    grow(model, city, 1)
    obj = {
        "department": Department,
        "grid": Grid,
        "dutyassignment": DutyAssignment,
        "category": Category,
        "holiday": Holiday,
        "knowledgearticle": KnowledgeArticle,
        "deadlinepolicy": DeadlinePolicy,
        "user": User,
    }[model].objects.last()
    for url in [
        f"/admin/{app}/{model}/",
        f"/admin/{app}/{model}/?q=a",
        f"/admin/{app}/{model}/{obj.pk}/change/",
    ]:
        assert client.get(url).status_code == 200, url


def test_units_read_reference_data_but_cannot_change_it(client, city):
    client.force_login(city.handler)
    assert client.get("/admin/departments/department/").status_code == 200
    assert client.get("/admin/departments/department/add/").status_code == 403
    assert client.get(f"/admin/departments/department/{city.street.pk}/change/").status_code == 200
    response = client.post(f"/admin/departments/department/{city.street.pk}/change/", {"name": "改名"})
    assert response.status_code == 403
    assert client.get("/admin/cases/holiday/add/").status_code == 403
    assert client.get("/admin/departments/department/import/").status_code == 403
    assert client.get("/admin/auth/user/").status_code == 403
