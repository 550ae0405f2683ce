from django.contrib import admin

from ..models import Ticket
from . import api_keys, callbacks, inbox, reference  # noqa: F401 - register the key, callback, inbox and reference admins
from .tickets import TicketAdmin

admin.site.register(Ticket, TicketAdmin)
