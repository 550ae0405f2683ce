"""Every export prints the hotline's local time (Asia/Shanghai), whatever timezone
the request or the worker has active."""

import csv
import io
from datetime import date

import time_machine
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from cases import workflow
from reports.excel import report_workbook
from reports.models import ExportJob
from reports.reporting import report_build
from tests.conftest import local, new_ticket


def test_the_report_workbook_says_when_it_was_made_in_local_time(city):
    with time_machine.travel(local(2026, 11, 1, 8, 20), tick=False), timezone.override("UTC"):
        report, _created = report_build("monthly", day=date(2026, 10, 1))
        ws = load_workbook(io.BytesIO(report_workbook(report)))["概况"]
    assert ws["A3"].value == "生成时间：2026-11-01 08:20"  # 00:20 UTC


def test_the_ledger_csv_and_excel_print_local_times(client, city, django_capture_on_commit_callbacks):
    with time_machine.travel(local(2026, 11, 23, 7, 30), tick=False):
        ticket = new_ticket(city)
        workflow.ticket_dispatch(ticket=ticket, actor=city.dispatcher, department=city.street)
    client.force_login(city.dispatcher)
    with time_machine.travel(local(2026, 11, 23, 9, 5), tick=False), timezone.override("UTC"):
        changelist = reverse("admin:cases_ticket_changelist")
        response = client.post(
            changelist + "?state=all", {"action": "export_csv", "_selected_action": [ticket.pk], "index": 0}
        )
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("admin:cases_ticket_export_ledger"), {"query": "state=all"})
        job = ExportJob.objects.get()
        download = client.get(reverse("admin:export_download", args=[job.pk]))
        sheet = load_workbook(io.BytesIO(b"".join(download.streaming_content)))["工单台账"]
    assert "20261123-0905" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[1][0] == ticket.number and rows[1][1] == "2026-11-23 07:30"  # 受理时间
    assert rows[1][13] == "2026-11-23 07:30"  # 派单时间
    assert job.file.name.endswith("-20261123-090500.xlsx")
    values = list(sheet.values)
    assert values[1][1] == "2026-11-23 07:30" and values[1][13] == "2026-11-23 07:30"
