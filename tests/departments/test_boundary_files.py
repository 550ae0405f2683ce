"""GeoJSON import and export of boundaries in the admin: validated by row, all or
nothing, round trip, and who may use them."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from departments import geo
from departments.boundary_files import (
    ERR_DUPLICATE_CODE,
    ERR_FILE_COLLECTION,
    ERR_NO_CODE,
    ERR_UNKNOWN_CODE,
    boundaries_export,
    boundaries_import,
)
from departments.models import Department, Grid
from tests.departments.factories import GridFactory
from tests.departments.test_geo import rect

GRID_IMPORT = "admin:departments_grid_boundaries_import"
GRID_EXPORT = "admin:departments_grid_boundaries_export"
UNIT_IMPORT = "admin:departments_department_boundaries_import"
UNIT_EXPORT = "admin:departments_department_boundaries_export"


def collection(*features) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def feature(code, geometry) -> dict:
    return {"type": "Feature", "properties": {"code": code}, "geometry": geometry}


def upload(client, url_name, raw: bytes):
    return client.post(reverse(url_name), {"boundary_file": SimpleUploadedFile("b.geojson", raw)})


@pytest.fixture
def grid_b(city):
    return GridFactory(name="东关二网格", code="G-DG-02", community=city.community)


def test_a_good_file_writes_every_boundary_and_routing_follows(admin_client, city, grid_b):
    raw = collection(
        feature("G-DG-01", rect(101.78, 36.61, 101.80, 36.62)),
        feature("G-DG-02", rect(101.80, 36.61, 101.82, 36.62)),
    )
    response = upload(admin_client, GRID_IMPORT, raw)
    assert response.status_code == 302
    city.grid.refresh_from_db()
    assert city.grid.boundary == rect(101.78, 36.61, 101.80, 36.62)
    assert geo.locate(36.615, 101.81) == grid_b
    assert city.grid.history.first().boundary == city.grid.boundary  # the change is in the history
    messages = [str(m) for m in admin_client.get(reverse("admin:departments_grid_changelist")).context["messages"]]
    assert "已导入 2 个边界。" in messages


def test_a_bad_file_writes_nothing_and_names_each_row(admin_client, city, grid_b):
    city.grid.boundary = rect(101.78, 36.61, 101.80, 36.62)
    city.grid.save()
    raw = collection(
        feature("G-DG-02", rect(101.80, 36.61, 101.82, 36.62)),  # fine on its own
        feature("NOPE", rect(0, 0, 1, 1)),
        feature("G-DG-02", rect(101.80, 36.61, 101.82, 36.62)),
        {"type": "Feature", "properties": {}, "geometry": rect(0, 0, 1, 1)},
        feature("G-DG-01", {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}),
    )
    response = upload(admin_client, GRID_IMPORT, raw)
    assert response.status_code == 200
    rows = [(e.row, e.code, e.message) for e in response.context["errors"]]
    assert rows == [
        (2, "NOPE", str(ERR_UNKNOWN_CODE % {"code": "NOPE", "what": "网格"})),
        (3, "G-DG-02", str(ERR_DUPLICATE_CODE % {"code": "G-DG-02", "row": 1})),
        (4, "", str(ERR_NO_CODE)),
        (5, "G-DG-01", str(geo.ERR_RING_OPEN % {"ring": 1})),
    ]
    page = response.content.decode()
    assert 'id="boundary-errors"' in page and "NOPE" in page
    grid_b.refresh_from_db()
    assert grid_b.boundary is None  # row 1 was fine, but nothing is written
    city.grid.refresh_from_db()
    assert city.grid.boundary == rect(101.78, 36.61, 101.80, 36.62)


def test_siblings_may_touch_and_overlap_a_little_but_no_more(city, grid_b, settings, admin_user):
    settings.BOUNDARY_OVERLAP_TOLERANCE = 0.01
    city.grid.boundary = rect(101.78, 36.61, 101.80, 36.62)
    city.grid.save()
    # 0.5 % of B's area over A's east edge: within the tolerance
    slight = boundaries_import(
        target="grid", raw=collection(feature("G-DG-02", rect(101.7999, 36.61, 101.82, 36.62))), actor=admin_user
    )
    assert slight.errors == [] and slight.written == 1
    # half of B inside A: refused, on B's row, naming A
    heavy = boundaries_import(
        target="grid", raw=collection(feature("G-DG-02", rect(101.79, 36.61, 101.81, 36.62))), actor=admin_user
    )
    assert [(e.row, e.code) for e in heavy.errors] == [(1, "G-DG-02")]
    assert "东关一网格" in heavy.errors[0].message and "50.0%" in heavy.errors[0].message
    grid_b.refresh_from_db()
    assert grid_b.boundary == rect(101.7999, 36.61, 101.82, 36.62)
    # grids of different communities are not siblings
    other = GridFactory(code="G-BX-01", community=city.community_b)
    apart = boundaries_import(
        target="grid", raw=collection(feature("G-BX-01", rect(101.79, 36.61, 101.81, 36.62))), actor=admin_user
    )
    assert apart.errors == []
    other.refresh_from_db()
    assert other.boundary is not None


def test_two_overlapping_rows_in_one_file_are_both_named(city, grid_b, admin_user):
    raw = collection(
        feature("G-DG-01", rect(101.78, 36.61, 101.80, 36.62)), feature("G-DG-02", rect(101.78, 36.61, 101.80, 36.62))
    )
    result = boundaries_import(target="grid", raw=raw, actor=admin_user)
    assert [(e.row, e.code) for e in result.errors] == [(1, "G-DG-01"), (2, "G-DG-02")]
    assert not Grid.objects.filter(boundary__isnull=False).exists()


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"\xff\xfe", b'{"type": "Feature"}', b"[]", b'{"type": "FeatureCollection", "features": {}}'],
)
def test_a_file_that_is_no_feature_collection_is_refused_without_500(admin_client, city, raw):
    response = upload(admin_client, GRID_IMPORT, raw)
    assert response.status_code == 200
    [error] = response.context["errors"]
    assert error.row == 0
    if raw.startswith(b"{"):
        assert error.message == str(ERR_FILE_COLLECTION)


def test_a_posted_form_without_a_file_asks_for_one(admin_client, city):
    response = admin_client.post(reverse(GRID_IMPORT), {})
    assert response.status_code == 200 and response.context["form"].errors


def test_units_import_by_code_and_a_bureau_code_is_unknown(city, admin_user):
    city.street.code, city.bureau.code = "630102001", "B-ZJ"
    city.street.save()
    city.bureau.save()
    raw = collection(feature("630102001", rect(101.7, 36.6, 101.9, 36.7)), feature("B-ZJ", rect(0, 0, 1, 1)))
    result = boundaries_import(target="unit", raw=raw, actor=admin_user)
    assert [(e.row, e.code) for e in result.errors] == [(2, "B-ZJ")]
    result = boundaries_import(
        target="unit", raw=collection(feature("630102001", rect(101.7, 36.6, 101.9, 36.7))), actor=admin_user
    )
    assert result.written == 1
    assert Department.objects.get(code="630102001").boundary == rect(101.7, 36.6, 101.9, 36.7)


def test_export_then_import_round_trips(admin_client, city, grid_b, admin_user):
    city.grid.boundary = rect(101.78, 36.61, 101.80, 36.62)
    city.grid.save()
    grid_b.boundary = rect(101.80, 36.61, 101.82, 36.62)
    grid_b.save()
    city.street.code = "630102001"
    city.street.boundary = rect(101.7, 36.6, 101.9, 36.7)
    city.street.save()
    for url, target in [(GRID_EXPORT, "grid"), (UNIT_EXPORT, "unit")]:
        response = admin_client.get(reverse(url))
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/geo+json")
        assert "attachment" in response["Content-Disposition"]
        exported = json.loads(response.content)
        assert exported == boundaries_export(target)
        (Grid if target == "grid" else Department).objects.update(boundary=None)
        assert boundaries_import(target=target, raw=response.content, actor=admin_user).errors == []
    city.grid.refresh_from_db()
    city.street.refresh_from_db()
    assert city.grid.boundary == rect(101.78, 36.61, 101.80, 36.62)
    assert city.street.boundary == rect(101.7, 36.6, 101.9, 36.7)
    first = boundaries_export("grid")["features"][0]
    assert first["properties"] == {
        "code": "G-DG-01",
        "name": "东关一网格",
        "kind": "grid",
        "parent_code": city.community.code,
    }


def test_the_change_form_refuses_a_bad_boundary(admin_client, city):
    url = reverse("admin:departments_grid_change", args=[city.grid.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update(
        community=city.community.pk,
        boundary=json.dumps({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}),
        is_active="on",
    )
    data.pop("worker", None)
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert str(geo.ERR_RING_OPEN % {"ring": 1}) in response.context["adminform"].form.errors["boundary"]
    data["boundary"] = json.dumps(rect(101.78, 36.61, 101.80, 36.62))
    assert admin_client.post(url, data).status_code == 302
    city.grid.refresh_from_db()
    assert city.grid.boundary == rect(101.78, 36.61, 101.80, 36.62)


# -- who may use them ----------------------------------------------------------------

ROLES = ["operator", "dispatcher", "supervisor", "callback", "leader", "handler", "head", "gridworker"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("import_url", "export_url"), [(GRID_IMPORT, GRID_EXPORT), (UNIT_IMPORT, UNIT_EXPORT)])
def test_staff_read_boundaries_but_only_maintainers_import(client, city, role, import_url, export_url):
    client.force_login(getattr(city, role))
    assert client.get(reverse(import_url)).status_code == 403
    assert upload(client, import_url, collection(feature("G-DG-01", rect(0, 0, 1, 1)))).status_code == 403
    assert client.get(reverse(export_url)).status_code == 200
    changelist = client.get(reverse("admin:departments_grid_changelist")).content.decode()
    assert 'id="boundaries-export"' in changelist and 'id="boundaries-import"' not in changelist
    city.grid.refresh_from_db()
    assert city.grid.boundary is None


def test_the_maintainer_sees_both_links(admin_client, city):
    page = admin_client.get(reverse("admin:departments_department_changelist")).content.decode()
    assert 'id="boundaries-import"' in page and 'id="boundaries-export"' in page
    assert admin_client.get(reverse(UNIT_IMPORT)).status_code == 200


@pytest.mark.parametrize("url", [GRID_IMPORT, GRID_EXPORT, UNIT_IMPORT, UNIT_EXPORT])
def test_anonymous_visitors_are_sent_to_the_login(client, city, url):
    response = client.get(reverse(url))
    assert response.status_code == 302 and "login" in response["Location"]
