from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cases.deadlines.schedule_import import holidays_import_ics

ERROR_UNREADABLE = "cannot read {path}: {error}"


class Command(BaseCommand):
    help = (
        "Import the State Council's holiday and make-up-day schedule from an ICS file into the holiday table "
        "(all-day events; a summary with 班 is a make-up working day). Open tickets are re-timed afterwards."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="an .ics file")

    def handle(self, *args, **options):
        path = Path(options["path"])
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CommandError(ERROR_UNREADABLE.format(path=path, error=exc)) from exc
        try:
            result = holidays_import_ics(text=text)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"holidays from {path.name}: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged"
        )
