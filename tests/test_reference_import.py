"""Reference data in bulk: Excel in and out, row-level errors, no half-imports."""

import io
import re

import pytest
import tablib
from django.urls import reverse

from cases.models import Category, Holiday
from cases.resources import CategoryResource, HolidayResource
from departments.models import Department, DutyAssignment
from departments.resources import DepartmentResource, DutyAssignmentResource


def dataset(headers, rows):
    return tablib.Dataset(*rows, headers=headers)


DEPT_HEADERS = ["编码", "名称", "简称", "类型", "上级编码", "联系电话", "辖区地址关键词", "启用"]


def test_departments_import_parents_by_code_and_labels_or_codes(city):
    data = dataset(
        DEPT_HEADERS,
        [
            ["630102009", "新建街道", "", "街道乡镇", city.district.code or "", "", "", "是"],
            ["630102009001", "新建社区", "", "community", "630102009", "", "新建路", "是"],
        ],
    )
    city.district.code = "630102"
    city.district.save()
    data = dataset(DEPT_HEADERS, [[*row[:4], "630102" if row[0] == "630102009" else row[4], *row[5:]] for row in data])
    result = DepartmentResource().import_data(data, dry_run=False, raise_errors=False)
    assert not result.has_errors() and not result.has_validation_errors()
    community = Department.objects.get(code="630102009001")
    assert community.parent.code == "630102009" and community.kind == Department.Kind.COMMUNITY
    assert community.ancestor_ids[:2] == [city.city.pk, city.district.pk]


def test_one_bad_row_rejects_the_whole_file(city):
    before = Department.objects.count()
    data = dataset(
        DEPT_HEADERS,
        [
            ["X-001", "好单位", "", "职能部门", city.city.code, "", "", "是"],
            ["X-002", "坏单位", "", "外星部门", "", "", "", "是"],  # unknown kind
            ["X-003", "孤儿社区", "", "社区村", "NOPE", "", "", "是"],  # unknown parent
            ["X-004", "错层社区", "", "社区村", city.city.code, "", "", "是"],  # community under a city
        ],
    )
    result = DepartmentResource().import_data(data, dry_run=False, raise_errors=False, use_transactions=True)
    assert result.has_validation_errors()
    messages = {row.number: str(row.error_dict) for row in result.invalid_rows}
    assert set(messages) == {2, 3, 4}
    assert "外星部门" in messages[2]
    assert "NOPE" in messages[3]
    assert Department.objects.count() == before  # nothing half-imported
    assert not Department.objects.filter(code="X-001").exists()


def test_export_round_trips(city):
    city.district.code = "630102"
    city.district.save()
    exported = DepartmentResource().export()
    assert exported.headers == DEPT_HEADERS
    # exported parents come before their children, so the file imports as it is
    codes = [row[0] for row in exported]
    assert codes.index(city.city.code) < codes.index("630102")
    result = DepartmentResource().import_data(exported, dry_run=True, raise_errors=False)
    assert not result.has_errors()


def test_categories_duties_and_holidays_import(city):
    categories = dataset(
        ["分类编码", "名称", "上级编码", "默认诉求性质", "默认紧急程度", "默认主办单位编码", "说明", "启用"],
        [
            ["0102", "物业", "01", "投诉", "", "", "", "是"],
            ["010201", "电梯故障", "0102", "help", "紧急", "", "", "是"],
        ],
    )
    assert not CategoryResource().import_data(categories, dry_run=False, raise_errors=False).has_validation_errors()
    lift = Category.objects.get(code="010201")
    assert lift.full_name == "城乡建设 › 物业 › 电梯故障" and lift.default_urgency == "urgent"

    city.utility.code = "C-HEAT"
    city.utility.save()
    duties = dataset(
        ["分类编码", "属地编码", "主办单位编码", "按属地派至", "依据/说明", "启用"],
        [["0101", "", "C-HEAT", "", "供热条例", "是"], ["0201", "", "", "属地街道乡镇", "", "是"]],
    )
    assert not DutyAssignmentResource().import_data(duties, dry_run=False, raise_errors=False).has_validation_errors()
    assert DutyAssignment.objects.get(category=city.heating).department == city.utility

    holidays = dataset(
        ["日期", "名称", "是否上班", "备注"], [["2027-01-01", "元旦", "否", ""], ["2027-02-06", "春节调休", "是", ""]]
    )
    assert not HolidayResource().import_data(holidays, dry_run=False, raise_errors=False).has_errors()
    assert Holiday.objects.get(date="2027-02-06").is_working_day
    bad = dataset(
        ["日期", "名称", "是否上班", "备注"], [["2027-03-01", "好日期", "否", ""], ["2027-13-45", "错日期", "否", ""]]
    )
    result = HolidayResource().import_data(bad, dry_run=False, raise_errors=False)
    assert result.has_errors()
    assert "2027-13-45" in str(result.row_errors()[0][1][0].error)
    assert not Holiday.objects.filter(date="2027-03-01").exists()


def test_the_admin_import_page_takes_an_excel_file(admin_client, city):
    response = admin_client.get(reverse("admin:departments_department_import"))
    assert response.status_code == 200
    book = tablib.Dataset(["Z-1", "测试局", None, "职能部门", None, None, None, "是"], headers=DEPT_HEADERS)
    upload = io.BytesIO(book.export("xlsx"))
    upload.name = "units.xlsx"
    response = admin_client.post(
        reverse("admin:departments_department_import"),
        {"resource": "0", "format": "1", "import_file": upload},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "测试局" in page and 'name="import_file_name"' in page  # the preview, waiting for confirmation
    assert not Department.objects.filter(code="Z-1").exists()  # only confirmed imports write
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    response = admin_client.post(reverse("admin:departments_department_process_import"), form)
    assert response.status_code == 302
    unit = Department.objects.get(code="Z-1")
    assert unit.short_name == "" and unit.kind == Department.Kind.BUREAU


@pytest.mark.parametrize(
    "url",
    [
        "admin:departments_department_export",
        "admin:departments_grid_export",
        "admin:departments_dutyassignment_export",
        "admin:cases_category_export",
        "admin:cases_holiday_export",
    ],
)
def test_export_pages_answer(admin_client, city, url):
    assert admin_client.get(reverse(url)).status_code == 200
