from django.contrib import admin

from ..models import Ticket
from . import api_keys, callbacks, inbox, incidents, privacy, reasons, reference, themes  # noqa: F401 - register the other admins
from .tickets import TicketAdmin

admin.site.register(Ticket, TicketAdmin)
