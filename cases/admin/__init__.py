from django.contrib import admin

from ..models import Ticket
from . import callbacks, inbox, reference  # noqa: F401 - register the callback, inbox and reference admins
from .tickets import TicketAdmin

admin.site.register(Ticket, TicketAdmin)
