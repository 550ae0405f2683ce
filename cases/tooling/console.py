"""The language of the commands' console output: English when the shell's locale
is English (``LC_ALL``, else ``LC_MESSAGES``, else ``LANG``, as POSIX orders them),
the site's language (Chinese) otherwise. One language per line either way."""

import os

from django.conf import settings
from django.utils import translation


def console_language(environ=None) -> str:
    environ = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            return "en" if value.lower().startswith("en") else settings.LANGUAGE_CODE
    return settings.LANGUAGE_CODE


def console_text(text, **params) -> str:
    """``text`` (a lazy translation) in the console's language, ``params`` put in.
    Only what is printed: data written meanwhile stays in the site's language."""
    with translation.override(console_language()):
        return str(text) % params if params else str(text)
