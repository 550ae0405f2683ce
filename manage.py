#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Lets settings tell a one-off command (check, makemigrations) from a server.
    os.environ["HOTLINE_MANAGE_COMMAND"] = sys.argv[1] if len(sys.argv) > 1 else ""
    from django.core.management import execute_from_command_line  # noqa: PLC0415 - after DJANGO_SETTINGS_MODULE is set

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
