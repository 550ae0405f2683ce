"""Stored reports, Excel, the ledger export, the dashboard, hotspots and spikes."""

import io
import re
from datetime import date

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from cases import workflow
from cases.callbacks import callback_batch, callback_record
from cases.models import Callback, Notification, Ticket, TicketState
from departments.models import Department
from reports.excel import report_workbook
from reports.hotspots import hotspots, spikes_detect
from reports.metrics import Period
from reports.models import ExportJob, ReportSubscription, Spike
from reports.reporting import last_complete_period, report_build
from reports.rollups import rollups_rebuild
from tests.conftest import drive, local, new_ticket

S = TicketState


@pytest.fixture
def october(city):
    """Closed and open tickets for two streets in October 2026."""
    for day in range(5, 25, 3):
        with time_machine.travel(local(2026, 10, day, 9, 0), tick=False):
            drive(city, new_ticket(city), S.CLOSED)
            drive(city, new_ticket(city, address="八一中路3号"), S.HANDLING, lead=city.street2)
        callback_batch(day=date(2026, 10, day))
        with time_machine.travel(local(2026, 10, day + 1, 10, 0), tick=False):
            for cb in Callback.objects.filter(status="pending"):
                callback_record(
                    callback=cb, actor=city.callback, contacted=True, solved="solved", satisfaction="satisfied"
                )
    return city


def test_periods_of_the_reports():
    today = date(2026, 11, 23)  # a Monday
    assert last_complete_period("daily", today) == Period.day(date(2026, 11, 22))
    assert last_complete_period("weekly", today) == Period(date(2026, 11, 16), date(2026, 11, 22))
    assert last_complete_period("monthly", today) == Period(date(2026, 10, 1), date(2026, 10, 31))
    assert last_complete_period("yearly", today) == Period(date(2025, 1, 1), date(2025, 12, 31))


def test_a_monthly_report_ranks_units_and_never_changes(october, settings):
    settings.HOTLINE_METRICS = {**settings.HOTLINE_METRICS, "ranking_min_tickets": 3, "red_black_size": 1}
    with time_machine.travel(local(2026, 11, 1, 8, 20), tick=False):
        report, created = report_build("monthly")
    assert created and report.title == "月评比（2026年10月）"
    data = report.data
    assert data["ranking_metric"] == "composite"
    ranked = [u["name"] for u in data["units"] if u.get("rank")]
    assert ranked == ["东关大街街道"]  # the other street has no callbacks yet, so no composite score
    assert data["red_list"] == [{"rank": 1, "name": "东关大街街道", "value": data["units"][0]["rates"]["composite"]}]
    assert data["totals"]["counters"]["dispatched"] == 14
    frozen = report.data
    # later edits — a unit renamed, a ticket closed — do not touch the issued report
    Department.objects.filter(pk=october.street.pk).update(name="改名后的街道")
    drive(october, new_ticket(october), S.CLOSED)
    again, created = report_build("monthly", day=date(2026, 10, 15))
    assert not created and again.pk == report.pk
    again.refresh_from_db()
    assert again.data == frozen


def test_build_report_command(october, capsys):
    call_command("build_report", "weekly", date="2026-10-14")
    out = capsys.readouterr().out
    assert "周通报（2026-10-12 至 2026-10-18）: issued" in out
    call_command("build_report", "weekly", date="2026-10-14")
    assert "already issued (unchanged)" in capsys.readouterr().out
    call_command("build_report", "yearly", date="2026-06-01")
    assert "年考核（2026年）" in capsys.readouterr().out


def test_build_report_writes_the_workbook(october, tmp_path, capsys):
    call_command("build_report", "monthly", date="2026-10-14", xlsx=str(tmp_path))
    written = tmp_path / "月评比（2026年10月）.xlsx"
    assert f"workbook written to {written}" in capsys.readouterr().out
    assert load_workbook(written).sheetnames[0] == "概况"
    with pytest.raises(CommandError, match="cannot write"):
        call_command("build_report", "monthly", date="2026-10-14", xlsx=str(tmp_path / "missing" / "x.xlsx"))
    with pytest.raises(CommandError, match="is not a date"):
        call_command("build_report", "monthly", date="14/10/2026")


def test_subscribers_get_the_report_in_the_inbox_and_by_mail(october, django_capture_on_commit_callbacks):
    october.leader.email = "leader@xining.gov.cn"
    october.leader.save()
    ReportSubscription.objects.create(user=october.leader, kind="daily")
    with django_capture_on_commit_callbacks(execute=True):
        report, _ = report_build("daily", day=date(2026, 10, 11))
    assert Notification.objects.filter(recipient=october.leader, title=report.title).exists()
    [message] = [m for m in mail.outbox if m.attachments]
    assert message.subject == report.title and message.attachments[0][0].endswith(".xlsx")


def test_the_report_workbook_has_chinese_headers_and_native_charts(october, settings):
    settings.HOTLINE_METRICS = {**settings.HOTLINE_METRICS, "ranking_min_tickets": 3}
    report, _ = report_build("monthly", day=date(2026, 10, 1))
    wb = load_workbook(io.BytesIO(report_workbook(report)))
    assert wb.sheetnames == [
        "概况",
        "单位排名",
        "红黑榜",
        "超期工单",
        "分类与渠道",
        "热点",
        "分类统计",
        "督办统计",
        "派单准确率",
    ]
    assert wb["单位排名"]["B1"].value == "单位" and wb["单位排名"]["B2"].value == "东关大街街道"
    assert len(wb["单位排名"]._charts) == 1
    assert len(wb["分类与渠道"]._charts) == 2
    assert wb["概况"]["A6"].value == "响应率"


def test_report_pages_for_the_centre_only(client, october):
    report, _ = report_build("monthly", day=date(2026, 10, 1))
    client.force_login(october.supervisor)
    page = client.get(reverse("admin:reports_report_view", args=[report.pk])).content.decode()
    assert "月评比（2026年10月）" in page and "东关大街街道" in page
    response = client.get(reverse("admin:reports_report_xlsx", args=[report.pk]))
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    client.force_login(october.handler)
    assert client.get(reverse("admin:reports_report_view", args=[report.pk])).status_code == 404
    assert client.get(reverse("admin:reports_report_changelist")).status_code == 403


# -- the ledger --------------------------------------------------------------------------


def test_the_ledger_export_runs_in_the_background_with_the_list_filters(
    client, october, django_capture_on_commit_callbacks
):
    client.force_login(october.handler)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:cases_ticket_export_ledger"), {"query": "state=all"})
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert job.status == ExportJob.Status.DONE and job.total == 7  # the street's own tickets only
    page = client.get(reverse("admin:reports_exportjob_changelist")).content.decode()
    assert "100%" in page
    download = client.get(reverse("admin:export_download", args=[job.pk]))
    wb = load_workbook(io.BytesIO(b"".join(download.streaming_content)))
    ws = wb["工单台账"]
    rows = list(ws.values)
    assert rows[0][:3] == ("工单编号", "受理时间", "渠道")
    assert len(rows) == 8
    assert all(row[11] == "东关大街街道" for row in rows[1:])
    assert rows[1][-1] == "138****1234"
    status = client.get(reverse("admin:export_status", args=[job.pk])).json()
    assert status["percent"] == 100
    client.force_login(october.handler2)
    assert client.get(reverse("admin:export_download", args=[job.pk])).status_code == 404


def test_a_filtered_ledger(client, october, django_capture_on_commit_callbacks):
    client.force_login(october.dispatcher)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:cases_ticket_export_ledger"), {"query": "state=handling"})
    assert ExportJob.objects.get().total == 7


def test_an_export_job_runs_once_however_often_it_is_delivered(october, monkeypatch):
    """The queue message, ``resume_exports`` and a re-delivery may all hand over the same
    job; the conditional claim lets exactly one of them write it."""
    from reports import exports, tasks
    from reports.export_jobs import export_create

    job = export_create(user=october.dispatcher, query="")  # not committed: still queued
    runs, rebuild = [], exports.ledger_queryset

    def ledger_queryset(user, query):
        runs.append(query)
        # A second worker gets the same job while the first is writing it.
        assert exports.export_run(job.pk).status == ExportJob.Status.RUNNING
        return rebuild(user, query)

    monkeypatch.setattr(exports, "ledger_queryset", ledger_queryset)
    assert tasks.export_ledger(job.pk) == ExportJob.Status.DONE
    assert tasks.export_ledger(job.pk) == ExportJob.Status.DONE  # a late re-delivery
    ExportJob.objects.filter(pk=job.pk).update(created_at=job.created_at.replace(year=2000))
    assert tasks.resume_exports() == 0
    assert runs == [""]


# -- dashboard ---------------------------------------------------------------------------


def test_dashboard_data_for_at_least_ten_charts(client, october):
    with time_machine.travel(local(2026, 10, 31, 20, 0), tick=False):
        rollups_rebuild(days=40)
        client.force_login(october.leader)
        assert client.get(reverse("admin:dashboard")).status_code == 200
        data = client.get(reverse("admin:dashboard_data"), {"period": "30"}).json()
    charts = [
        "volume",
        "rates",
        "channels",
        "categories",
        "territories",
        "rankings",
        "overdue_by_unit",
        "handling_time",
        "callbacks",
        "completion",
        "hotspots",
        "spikes",
    ]
    assert all(key in data for key in charts)
    assert sum(data["volume"]["values"]) == data["kpis"]["received"] == 14
    assert data["channels"] == [{"name": "12345热线", "value": 14}]
    assert {t["name"] for t in data["territories"]} == {"东关大街街道", "八一路街道"}


def test_dashboard_filters_by_territory(client, october):
    with time_machine.travel(local(2026, 10, 31, 20, 0), tick=False):
        rollups_rebuild(days=40)
        client.force_login(october.supervisor)
        data = client.get(reverse("admin:dashboard_data"), {"period": "30", "territory": october.street2.pk}).json()
    assert data["territory"] == "八一路街道"
    assert data["kpis"]["received"] == 7
    assert {t["name"] for t in data["territories"]} == {"八一路街道"}


def test_dashboard_query_count_is_flat(client, october, django_assert_max_num_queries, settings):
    # the reference data's stamp is compared once per interval: a slow machine must
    # not see that comparison in one request and not the other
    settings.REFERENCE_RECHECK_SECONDS = 3600
    rollups_rebuild(days=60)
    client.force_login(october.leader)
    url = reverse("admin:dashboard_data") + "?period=90"
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    with time_machine.travel(local(2026, 10, 20, 9, 0), tick=False):
        for _ in range(5):
            drive(october, new_ticket(october), S.CLOSED)
    rollups_rebuild(days=60)
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    # 21: the supervision table added two grouped queries (urges; escalations and sign-offs)
    assert len(many.captured_queries) == len(few.captured_queries) <= 21


def test_units_have_no_dashboard(client, october):
    client.force_login(october.handler)
    assert client.get(reverse("admin:dashboard")).status_code == 403
    assert client.get(reverse("admin:dashboard_data")).status_code == 403


def test_the_chart_library_is_installed_locally(settings):
    """Served from our static files, installed by `make install` from the npm registry."""
    path = settings.NODE_MODULES / "echarts" / "dist" / "echarts.min.js"
    assert path.exists() and path.stat().st_size > 100_000
    from django.contrib.staticfiles import finders

    assert finders.find("vendor/echarts/echarts.min.js")


# -- 未诉先办 -----------------------------------------------------------------------------------


def test_hotspots_compare_with_the_period_before(city):
    with time_machine.travel(local(2026, 10, 10, 9, 0), tick=False):
        new_ticket(city)
    with time_machine.travel(local(2026, 11, 10, 9, 0), tick=False):
        for _ in range(3):
            new_ticket(city)
        new_ticket(city, category=city.noise)
    [top, second] = hotspots(Period(date(2026, 11, 1), date(2026, 11, 30)))
    assert (top["community"], top["category"], top["count"]) == ("东关社区", "城乡建设 › 供暖 › 室温不达标", 3)
    assert (top["previous"], top["change"]) == (1, pytest.approx(2.0))
    assert second["count"] == 1 and second["previous"] == 0 and second["change"] is None


def test_a_spike_is_raised_once_to_the_street_office(city, settings):
    settings.HOTLINE_SPIKE_MIN = 3
    with time_machine.travel(local(2026, 11, 1, 9, 0), tick=False):
        new_ticket(city)  # one in four weeks: the usual level
    with time_machine.travel(local(2026, 11, 20, 9, 0), tick=False):
        for _ in range(2):
            new_ticket(city)
    assert spikes_detect(date(2026, 11, 20)) == []  # two is not a spike
    with time_machine.travel(local(2026, 11, 20, 11, 0), tick=False):
        new_ticket(city)
    [spike] = spikes_detect(date(2026, 11, 20))
    assert (spike.count, spike.community, spike.category) == (3, city.community, city.cold_room)
    titles = Notification.objects.filter(recipient__in=[city.handler, city.head]).values_list("title", flat=True)
    assert len(titles) == 2 and all("突增预警" in t for t in titles)
    assert spikes_detect(date(2026, 11, 20)) == []  # raised once
    assert Spike.objects.count() == 1


def test_the_hotspot_page_shows_the_clusters_behind_it(client, city, settings):
    settings.HOTLINE_MASS_COUNT = 3
    from cases.clusters import clusters_detect_for

    with time_machine.travel(local(2026, 11, 20, 9, 0), tick=False):
        tickets = [new_ticket(city, citizen_phone=f"1380000000{i}") for i in range(3)]
        clusters_detect_for(tickets[-1])
        client.force_login(city.supervisor)
        url = reverse("admin:hotspot", args=[city.community.pk, city.heating.pk]) + "?period=30"
        page = client.get(url).content.decode()
    assert "多人集中" in page
    assert all(t.number in page for t in tickets)
    client.force_login(city.handler)
    assert client.get(url).status_code == 403


def test_report_views_render_every_rate_label(client, october):
    report, _ = report_build("daily", day=date(2026, 10, 11))
    client.force_login(october.dispatcher)
    page = client.get(reverse("admin:reports_report_view", args=[report.pk])).content.decode()
    for label in [
        "响应率",
        "解决率",
        "满意率",
        "综合得分",
        "办结率",
        "按期办结率",
        "签收及时率",
        "退单率",
        "延期率",
        "重办率",
        "平均办理时长",
    ]:
        assert label in page
    assert re.search(r"id=\"report-totals\"", page)


def test_an_export_whose_worker_died_is_resumed(october, settings):
    """A worker killed mid-export leaves the job running; once its heartbeat is older than
    ``HOTLINE_EXPORT_STALE_MINUTES`` the periodic ``resume_exports`` finishes it, while a job
    still beating is left to its worker."""
    from datetime import timedelta

    from reports import exports, tasks
    from reports.export_jobs import export_create

    job = export_create(user=october.dispatcher, query="")
    assert exports.export_claim(job.pk)  # a worker took it, then died
    assert tasks.resume_exports() == 0  # still beating: not taken from its worker
    assert ExportJob.objects.get(pk=job.pk).status == ExportJob.Status.RUNNING
    beat = ExportJob.objects.get(pk=job.pk).heartbeat_at
    ExportJob.objects.filter(pk=job.pk).update(
        heartbeat_at=beat - timedelta(minutes=settings.HOTLINE_EXPORT_STALE_MINUTES + 1)
    )
    assert tasks.resume_exports() == 1
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE and job.done_rows == job.total > 0


#: What a later event cannot change about a past period: who received, dispatched, signed,
#: contacted and closed what, and the callbacks completed in it (README "Reproducible reports").
SETTLED = [
    "received", "dispatched", "sign_clocked", "signed_on_time", "contact_clocked", "contacted_on_time",
    "closed", "handled", "cb_valid", "cb_contacted", "cb_solved", "cb_satisfied", "cb_unsatisfied",
]  # fmt: skip


def test_a_stored_report_equals_a_recomputation_after_later_events(october):
    """November's events — a callback that reopens an October ticket, a return of an
    October dispatch, a re-dispatch — leave October's settled facts as the issued report
    has them: the stored report equals a recomputation of the same period today."""
    from reports.reporting import report_data

    with time_machine.travel(local(2026, 11, 1, 8, 20), tick=False):
        report, _ = report_build("monthly")
    closed = Ticket.objects.filter(state=S.CLOSED, lead_department=october.street).first()
    handling = Ticket.objects.filter(state=S.HANDLING, lead_department=october.street2).first()
    with time_machine.travel(local(2026, 11, 3, 10, 0), tick=False):
        workflow.ticket_reopen(ticket=closed, actor=october.callback, reason="回访不满意")
        workflow.ticket_return_request(ticket=handling, actor=october.handler2, reason="不属本单位职责")
        workflow.ticket_return_approve(ticket=handling, actor=october.dispatcher)
        workflow.ticket_dispatch(ticket=handling, actor=october.dispatcher, department=october.street)
    with time_machine.travel(local(2026, 11, 5, 9, 0), tick=False):
        again = report_data("monthly", Period.month(date(2026, 10, 15)))
    stored = {u["id"]: u["counters"] for u in report.data["units"]}
    now = {u["id"]: u["counters"] for u in again["units"]}
    assert set(stored) == set(now)
    # "received" is the centre's: a unit's row counts the tickets it leads now, which a
    # re-dispatch moves (the README says so); every other settled fact stays with its unit.
    per_unit = [n for n in SETTLED if n != "received"]
    for unit, counters in stored.items():
        assert {n: counters[n] for n in per_unit} == {n: now[unit][n] for n in per_unit}, unit
    assert {n: report.data["totals"]["counters"][n] for n in SETTLED} == {
        n: again["totals"]["counters"][n] for n in SETTLED
    }
    # what may legitimately move later is the return of an October dispatch, charged to it
    assert again["totals"]["counters"]["returned"] == report.data["totals"]["counters"]["returned"] + 1
