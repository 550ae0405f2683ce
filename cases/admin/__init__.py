from django.contrib import admin

from ..models import Ticket
from . import reference  # noqa: F401 - registers the reference-data admins
from .tickets import TicketAdmin

admin.site.register(Ticket, TicketAdmin)
