"""Issuing, checking and revoking API keys (DESIGN §7)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from departments.models import Department, StaffProfile
from departments.roles import Role

from .models import ApiKey, Channel
from .models.api import key_hash

#: The role a key's service account acts in: a channel registers tickets like an
#: operator, a callback system records results like a callback agent, a sensor
#: platform registers *and routes* its alerts, which is a dispatcher's act.
PURPOSE_ROLES = {
    ApiKey.Purpose.CHANNEL: Role.OPERATOR,
    ApiKey.Purpose.CALLBACK: Role.CALLBACK,
    ApiKey.Purpose.SENSOR: Role.DISPATCHER,
}
#: ``last_used_at`` is written at most this often per key (one UPDATE, not one per call).
LAST_USED_RESOLUTION = timedelta(minutes=1)

ERR_NO_CENTRE = _("系统中还没有热线中心单位，无法为接口密钥建立服务账号。")
ERR_CHANNEL = _("未知渠道：%(channel)s。")


def api_key_issue(
    *, name: str, channel: str, purpose: str = ApiKey.Purpose.CHANNEL, created_by=None, note: str = "", raw=None
):
    """A new key; returns ``(ApiKey, raw_key)``. The raw key is shown once and
    only its digest is stored. (``raw`` fixes the key: demo data only.)"""
    if channel not in Channel.values:
        raise ValidationError(ERR_CHANNEL, params={"channel": channel}, code="channel")
    if purpose not in ApiKey.Purpose.values:
        raise ValidationError(_("未知用途：%(purpose)s。"), params={"purpose": purpose}, code="purpose")
    centre = Department.objects.filter(kind=Department.Kind.CENTRE, is_active=True).order_by("path").first()
    if centre is None:
        raise ValidationError(ERR_NO_CENTRE, code="no_centre")
    if raw is None:
        raw, prefix = ApiKey.generate()
    else:
        prefix = raw.split("_")[1]
    with transaction.atomic():
        user = get_user_model().objects.create(
            username=f"api-{prefix}",
            first_name=str(name)[:150],
            is_active=False,  # never logs in, never on a roster or a notification list
            is_staff=False,
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
        StaffProfile.objects.create(user=user, department=centre, role=PURPOSE_ROLES[purpose], title=str(name)[:50])
        key = ApiKey.objects.create(
            name=name,
            purpose=purpose,
            channel=channel,
            prefix=prefix,
            hashed=key_hash(raw),
            user=user,
            created_by=created_by,
            note=note,
        )
    return key, raw


def api_key_revoke(key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def api_key_check(raw: str) -> ApiKey | None:
    """The active key for ``raw``, or None. Marks it used."""
    raw = (raw or "").strip()
    if not raw.startswith("hk_") or len(raw) > 100:
        return None
    key = (
        ApiKey.objects.select_related("user", "user__staff")
        .filter(hashed=key_hash(raw), revoked_at__isnull=True)
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or key.last_used_at < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def service_account_key(user) -> ApiKey | None:
    """The key a service account belongs to (None for people)."""
    if user is None or not getattr(user, "pk", None) or user.is_active:
        return None
    try:
        return user.api_key
    except ApiKey.DoesNotExist:
        return None
