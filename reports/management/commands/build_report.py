from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reports.excel import report_workbook
from reports.models import Report
from reports.reporting import report_build


class Command(BaseCommand):
    help = (
        "Issue a report: daily (日小结), weekly (周通报), monthly (月评比) or yearly (年考核). "
        "Without --date, the last complete period; an issued report is never rebuilt."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=Report.Kind.values)
        parser.add_argument("--date", help="any day inside the period to report on, YYYY-MM-DD")
        parser.add_argument("--xlsx", metavar="PATH", help="also write the report as an Excel workbook to PATH")

    def handle(self, *args, **options):
        day = None
        if options["date"]:
            try:
                day = date.fromisoformat(options["date"])
            except ValueError:
                raise CommandError(f"--date: {options['date']!r} is not a date like 2026-11-01") from None
        report, created = report_build(options["kind"], day=day)
        state = "issued" if created else "already issued (unchanged)"
        self.stdout.write(f"{report.title}: {state}, period {report.period_start} – {report.period_end}")
        rates = report.data["totals"]["rates"]
        for name in ("response", "resolution", "satisfaction", "composite", "on_time"):
            value = rates[name]
            self.stdout.write(f"  {name:<13} {'—' if value is None else f'{value * 100:.1f}%'}")
        for row in report.data["red_list"]:
            self.stdout.write(f"  red   #{row['rank']} {row['name']}")
        for row in report.data["black_list"]:
            self.stdout.write(f"  black #{row['rank']} {row['name']}")
        if options["xlsx"]:
            path = Path(options["xlsx"])
            if path.is_dir():
                path = path / f"{report.title}.xlsx"
            try:
                path.write_bytes(report_workbook(report))
            except OSError as exc:
                raise CommandError(f"--xlsx: cannot write {path}: {exc.strerror}") from None
            self.stdout.write(f"  workbook written to {path}")
