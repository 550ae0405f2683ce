from django.core.management.base import BaseCommand
from django.db.models import Count
from django.utils.translation import gettext_lazy as _
from tqdm import tqdm

from cases.models import Ticket
from cases.tooling import demo
from cases.tooling.console import console_text


class Command(BaseCommand):
    help = "Build the demo city (西宁市) and replay ~2,000 tickets of the last 60 days through the workflow."

    def add_arguments(self, parser):
        parser.add_argument("--tickets", type=int, default=demo.demo_tickets())
        parser.add_argument("--days", type=int, default=60)
        parser.add_argument("--seed", type=int, default=20261123)
        parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")

    def handle(self, *args, **options):

        def progress(items):
            return tqdm(items, desc=console_text(_("回放工单")), disable=options["no_progress"], mininterval=0.5)

        summary = demo.seed(
            tickets=options["tickets"],
            days=options["days"],
            seed_value=options["seed"],
            progress=progress,
            out=lambda line: self.stdout.write(console_text(line)),
        )
        if summary["skipped"]:
            self.stdout.write("Demo tickets already exist; reference data checked, nothing replayed.")
        else:
            self.stdout.write(f"Replayed {summary['created']} tickets: {summary['stats']}")
            self.stdout.write(f"Deadline scan: {summary['scan']['reminders']}, urges {summary['scan']['urges']}")
            self.stdout.write(f"Follow-ups: {summary['followups']}")
            self.stdout.write(f"Reports issued: {', '.join(summary['reports'])}")
        if summary["suggestions"]:
            self.stdout.write(summary["suggestions"])
        states = dict(Ticket.objects.values_list("state").annotate(n=Count("pk")))
        self.stdout.write(f"Tickets by state: {states}")
        self.stdout.write(self.style.SUCCESS(f"Demo logins (password {demo.DEMO_PASSWORD}):"))
        for username in demo.demo_logins():
            self.stdout.write(f"  {username}")
        self.stdout.write(self.style.SUCCESS("Demo API keys (Authorization: Api-Key …; Open311 api_key=…):"))
        for name, purpose, _channel, raw in demo.DEMO_API_KEYS:
            self.stdout.write(f"  {purpose:<9} {raw}  ({name})")
