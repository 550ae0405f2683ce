"""Personal data of citizens (DESIGN §8): who may see it, and its masked forms."""

from departments.roles import UNIT_ROLES
from departments.selectors import staff_profile


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
