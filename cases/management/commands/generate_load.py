import math
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from cases.tooling.load import LoadMismatch, generate, long_story, reminders_so_far
from reports.rollups import rollups_rebuild


class Command(BaseCommand):
    help = (
        "Write a synthetic city's tickets (with timelines and callbacks) for benchmarks: "
        "COPY on PostgreSQL, fast; not through the workflow. Chunk by chunk, each committed with the "
        "run's progress: a load that was stopped resumes when run again with the same arguments."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tickets", type=int, required=True)
        parser.add_argument("--years", type=float, default=2.0)
        parser.add_argument("--open-share", type=float, default=0.1, help="share of tickets still open (default 0.1)")
        parser.add_argument("--seed", type=int, default=20261123)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, tickets, years, open_share, seed, no_progress, **options):
        if tickets < 1 or not 0 < years <= 10 or not 0 <= open_share < 1:
            raise CommandError("--tickets must be positive, --years in (0, 10], --open-share in [0, 1)")

        bar = tqdm(total=tickets, desc="generating", unit="tickets", mininterval=1, disable=no_progress)

        def progress(done, total):
            bar.update(done - bar.n)

        try:
            result = generate(
                tickets=tickets, years=years, open_share=open_share, seed=seed, progress=progress, out=self.stdout.write
            )
        except LoadMismatch as error:
            raise CommandError(str(error)) from error
        finally:
            bar.close()
        if result["resumed_at"]:
            self.stdout.write(f"resumed an unfinished load after {result['resumed_at']:,} tickets")
        story = long_story()
        reminded = reminders_so_far()
        self.stdout.write(
            f"{result['tickets']:,} tickets ({result['open']:,} open in all), {result['events']:,} events, "
            f"{result['callbacks']:,} callbacks in {result['seconds']} s; "
            f"ticket {story.number} has a 50-step timeline; {reminded:,} reminders already sent before the last day"
        )
        # What the nightly rollup task would have built: the dashboard reads it.
        started = time.monotonic()
        built = rollups_rebuild(days=math.ceil(years * 365))
        self.stdout.write(f"{built:,} daily unit rollups in {time.monotonic() - started:.1f} s")
