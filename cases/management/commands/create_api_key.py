from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cases.api_keys import api_key_issue
from cases.models import ApiKey, Channel


class Command(BaseCommand):
    help = "Issue an API key for a channel and print it (it is shown only this once)."

    def add_arguments(self, parser):
        parser.add_argument("channel", help=f"one of: {', '.join(Channel.values)}")
        parser.add_argument("--name", help="who holds the key, e.g. 'i西宁小程序' (default: the channel's name)")
        parser.add_argument(
            "--purpose", choices=ApiKey.Purpose.values, default=ApiKey.Purpose.CHANNEL, help="what the key may do"
        )
        parser.add_argument("--note", default="")

    def handle(self, *args, channel, name, purpose, note, **options):
        if channel not in Channel.values:
            raise CommandError(f"unknown channel {channel!r}; choose one of: {', '.join(Channel.values)}")
        name = name or str(Channel(channel).label)
        try:
            key, raw = api_key_issue(name=name, channel=channel, purpose=purpose, note=note)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stderr.write(f"Issued key {key.prefix} ({key.get_purpose_display()}, channel {channel}) for {name}.")
        self.stdout.write(raw)
