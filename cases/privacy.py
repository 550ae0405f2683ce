"""Personal data of citizens (DESIGN §8): who may see it, its masked forms, and
revealing it on demand with an audit record."""

import re
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from departments.roles import UNIT_ROLES
from departments.selectors import staff_profile

from .models import PersonalDataAccess


def mask_phone(phone: str) -> str:
    """138****1234; short numbers keep only their last two digits."""
    phone = (phone or "").strip()
    if len(phone) >= 7:
        return f"{phone[:3]}{'*' * (len(phone) - 7)}{phone[-4:]}"
    if len(phone) > 2:
        return "*" * (len(phone) - 2) + phone[-2:]
    return phone


def mask_name(name: str) -> str:
    """张** — the family name only."""
    name = (name or "").strip()
    return name[0] + "*" * max(len(name) - 1, 1) if name else ""


def citizen_hidden_from(user, ticket) -> bool:
    """A confidential report (举报) hides the complainant from the handling unit."""
    if not ticket.is_confidential or user.is_superuser:
        return False
    profile = staff_profile(user)
    return profile is None or profile.role in UNIT_ROLES


# -- revealing, with an audit record ----------------------------------------------------

#: How the page being rendered shows the citizen: "masked" (the default), "full"
#: (revealed with a reason) or "hidden" (a confidential report, for the handling
#: unit). Set per request by the admin views; read by the display methods and the
#: history pages.
CITIZEN_VIEW: ContextVar[str] = ContextVar("citizen_view", default="masked")
HIDDEN_TEXT = _("（保密）")

ERR_REASON = _("请填写查看事由（如：回电核实诉求、上门处置需联系）。")
ERR_CONFIDENTIAL = _("这是保密举报件，诉求人信息对承办单位不予显示。")


def _reveals(user, ticket):
    """``user``'s reveals of ``ticket`` (a ticket or an ``OuterRef``) still in force."""
    since = timezone.now() - timedelta(minutes=settings.HOTLINE_REVEAL_MINUTES)
    return PersonalDataAccess.objects.filter(ticket=ticket, user=user, created_at__gte=since)


def revealed_for(user) -> Exists:
    """For a ticket queryset's ``annotate(citizen_revealed=…)``: has ``user`` a
    reveal in force? ``is_revealed`` then reads the flag instead of asking again."""
    return Exists(_reveals(user, OuterRef("pk")))


def is_revealed(user, ticket) -> bool:
    """Did ``user`` reveal this ticket's citizen in the last ``HOTLINE_REVEAL_MINUTES``?"""
    if citizen_hidden_from(user, ticket):
        return False
    known = getattr(ticket, "citizen_revealed", None)
    if known is not None:
        return known
    return _reveals(user, ticket).exists()


def citizen_reveal(*, user, ticket, reason: str):
    """Record that ``user`` looks at the citizen's name and phone on ``ticket``,
    and why. The caller has checked that the ticket is in the user's scope."""
    reason = (reason or "").strip()
    if citizen_hidden_from(user, ticket):
        raise PermissionDenied(ERR_CONFIDENTIAL)
    if len(reason) < 2:
        raise ValidationError(ERR_REASON, code="reason")
    profile = staff_profile(user)
    return PersonalDataAccess.objects.create(
        ticket=ticket, user=user, department=profile.department if profile else None, reason=reason[:200]
    )


def citizen_view(user, ticket) -> str:
    if citizen_hidden_from(user, ticket):
        return "hidden"
    return "full" if is_revealed(user, ticket) else "masked"


def shown(value: str, masker) -> str:
    view = CITIZEN_VIEW.get()
    if view == "hidden":
        return str(HIDDEN_TEXT)
    return value if view == "full" else masker(value)


def shown_name(ticket) -> str:
    return shown(ticket.citizen_name, mask_name)


def shown_phone(ticket) -> str:
    return shown(ticket.citizen_phone, mask_phone)


#: A mobile number as people write it (+86, spaces or dashes), and a landline with
#: its area code.
MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
_AREA_LANDLINE = re.compile(r"(?<!\d)0\d{2,3}[- ]?\d{7,8}(?!\d)")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def mask_mobiles(text: str, replacement: str | None = None) -> str:
    """Mobile numbers in free text as 138****1234 (or ``replacement``)."""
    return MOBILE.sub(lambda m: replacement or mask_phone(_digits(m.group())[-11:]), text)


def mask_name_in_text(text: str, name: str, replacement: str | None = None) -> str:
    """The citizen's name in free text as 王** (or ``replacement``)."""
    name = (name or "").strip()
    if len(name) < 2:  # a one-character name would mask every such character
        return text
    return text.replace(name, replacement or mask_name(name))


def mask_phones_in_text(text: str, replacement: str | None = None) -> str:
    """Phone numbers a citizen typed into their demand, masked (for texts that
    leave the system: SMS, e-mail, chat robots; and for timeline notes)."""
    text = mask_mobiles(text or "", replacement)
    return _AREA_LANDLINE.sub(lambda m: replacement or mask_phone(_digits(m.group())), text)


def shown_text(text: str, ticket) -> str:
    """Free text staff wrote about a ticket (timeline notes), with the citizen's
    name and any phone number as the page may show them."""
    view = CITIZEN_VIEW.get()
    if view == "full" or not text:
        return text
    replacement = str(HIDDEN_TEXT) if view == "hidden" else None
    return mask_name_in_text(mask_phones_in_text(text, replacement), ticket.citizen_name, replacement)


@contextmanager
def showing_citizen(view: str):
    """Render with the citizen shown as ``view`` (see ``CITIZEN_VIEW``)."""
    token = CITIZEN_VIEW.set(view)
    try:
        yield
    finally:
        CITIZEN_VIEW.reset(token)
