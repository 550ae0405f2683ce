"""A stored report is read in the reader's language: its labels and title are
translated when shown, not frozen in the language it was issued in."""

from datetime import date

from django.urls import reverse

from reports.reporting import report_build


def test_a_stored_report_reads_in_english_and_in_chinese(client, city):
    report, _created = report_build("monthly", day=date(2026, 10, 1))
    url = reverse("admin:reports_report_view", args=[report.pk])
    client.force_login(city.supervisor)
    chinese = client.get(url).content.decode()
    assert "月评比（2026年10月）" in chinese and "<th>响应率</th>" in chinese
    client.post("/i18n/setlang/", {"language": "en", "next": url})
    english = client.get(url).content.decode()
    assert "响应率" not in english and "月评比" not in english
    assert "<th>Response rate</th>" in english and "Monthly ranking (2026-10)" in english
    listing = client.get(reverse("admin:reports_report_changelist")).content.decode()
    assert "月评比" not in listing
