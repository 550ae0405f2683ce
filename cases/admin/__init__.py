from django.contrib import admin

from ..models import Ticket
from . import inbox, reference  # noqa: F401 - register the inbox and reference-data admins
from .tickets import TicketAdmin

admin.site.register(Ticket, TicketAdmin)
