from django.core.management.base import BaseCommand

from cases.suggestions import SuggestionsUnavailable, suggestion_model_describe, suggestion_train


class Command(BaseCommand):
    help = (
        "Train the dispatch-suggestion model (智能派单) on the closed tickets now, as the nightly task does; "
        "prints its held-out accuracy."
    )

    def add_arguments(self, parser):
        parser.add_argument("--max-rows", type=int, default=None, help="newest closed tickets to read")

    def handle(self, *args, max_rows, **options):
        try:
            row = suggestion_train(max_rows=max_rows)
        except SuggestionsUnavailable as refused:
            self.stdout.write(self.style.WARNING(str(refused)))
            return
        self.stdout.write(self.style.SUCCESS(suggestion_model_describe(row)))
