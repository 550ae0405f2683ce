"""Two-factor login for staff (django-otp): a TOTP authenticator app on the
phone, plus ten one-time recovery codes for the day the phone is lost.

Optional per person; ``HOTLINE_2FA_REQUIRED`` makes it compulsory for everyone
who signs in to the admin. A person who has turned it on cannot reach the admin
on a session that did not pass the second step (one opened with the password
alone before they turned it on, in another browser)."""

from base64 import b32encode

import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_CODES = 10

ERR_TOKEN_REQUIRED = _("该账号已启用两步验证：请输入手机验证器上的6位动态验证码（或一个恢复码）。")
ERR_TOKEN_WRONG = _("动态验证码不正确或已使用过。请核对手机时间后输入最新的验证码；连续输错后需稍等片刻再试。")


def has_second_factor(user) -> bool:
    """Has ``user`` turned two-factor login on? One query, then cached until a
    device changes (asked on every admin request of an unverified session)."""
    on = cache.get(_cache_key(user.pk))
    if on is None:
        on = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        cache.set(_cache_key(user.pk), on, 600)
    return on


def _cache_key(user_id) -> str:
    return f"otp:on:{user_id}"


@receiver([post_save, post_delete], sender=TOTPDevice)
def _forget(sender, instance, **kwargs):
    cache.delete(_cache_key(instance.user_id))


def session_passes(request) -> bool:
    """May this session use the admin, as far as the second step goes?"""
    verified = getattr(request.user, "is_verified", None)  # set by django_otp's middleware
    return bool(verified and verified()) or not has_second_factor(request.user)


class LoginForm(AdminAuthenticationForm):
    """The admin login, with the authenticator's code for those who turned it on.
    A wrong code counts as a failed login (django-axes locks out guessers)."""

    otp_token = forms.CharField(
        label=_("动态验证码"),
        required=False,
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 10}),
        help_text=_("仅已启用两步验证的账号需要填写"),
    )

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not has_second_factor(user):
            return
        token = "".join((self.cleaned_data.get("otp_token") or "").split()).lower()
        if not token:
            raise ValidationError(ERR_TOKEN_REQUIRED, code="otp_required")
        device = match_token(user, token)
        if device is None:
            user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=self.request)
            raise ValidationError(ERR_TOKEN_WRONG, code="otp_invalid")
        user.otp_device = device  # django_otp marks the session verified on login


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("动态验证码"),
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 10}),
    )

    def clean_token(self):
        return "".join(self.cleaned_data["token"].split()).lower()


def _recovery_codes(user) -> list[str]:
    """A fresh set of one-time recovery codes (the old set stops working)."""
    device, _created = StaticDevice.objects.get_or_create(user=user, defaults={"name": "recovery"})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def _qr_svg(url: str) -> str:
    """The enrolment QR code as inline SVG: drawn here, nothing fetched."""
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return mark_safe(image.to_string(encoding="unicode"))  # drawn by qrcode: no user markup


def two_factor_view(request, site):
    """两步验证: turn it on (scan, confirm a code, note the recovery codes), get
    new recovery codes, or turn it off (not where it is required)."""
    user = request.user
    active = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    form = TokenForm(request.POST or None)
    codes = None
    action = request.POST.get("action")
    if request.method == "POST" and form.is_valid():
        token = form.cleaned_data["token"]
        if action == "enable" and active is None:
            pending = TOTPDevice.objects.filter(user=user, confirmed=False).first()
            if pending is not None and pending.verify_token(token):
                with transaction.atomic():
                    pending.confirmed = True
                    pending.save()
                    codes = _recovery_codes(user)
                otp_login(request, pending)
                active, form = pending, TokenForm()
                messages.success(request, _("两步验证已启用。下次登录时需要输入手机验证器上的动态验证码。"))
            else:
                form.add_error("token", ERR_TOKEN_WRONG)
        elif action in ("codes", "disable") and active is not None:
            if match_token(user, token) is None:
                form.add_error("token", ERR_TOKEN_WRONG)
            elif action == "codes":
                codes, form = _recovery_codes(user), TokenForm()
                messages.success(request, _("已生成新的恢复码，旧的恢复码已作废。"))
            elif settings.HOTLINE_2FA_REQUIRED:
                form.add_error(None, _("本系统要求所有工作人员启用两步验证，不能关闭。"))
            else:
                with transaction.atomic():
                    TOTPDevice.objects.filter(user=user).delete()
                    StaticDevice.objects.filter(user=user).delete()
                messages.success(request, _("两步验证已关闭。"))
                return redirect(reverse("admin:two_factor", current_app=site.name))
        else:
            form.add_error(None, _("页面已过期，请刷新后重试。"))
    context = {
        **site.each_context(request),
        "title": _("两步验证"),
        "active": active,
        "form": form,
        "codes": codes,
        "required": settings.HOTLINE_2FA_REQUIRED,
        "codes_left": StaticToken.objects.filter(device__user=user).count() if active else None,
    }
    if active is None:
        pending, _created = TOTPDevice.objects.get_or_create(user=user, confirmed=False, defaults={"name": "phone"})
        context["qr"] = _qr_svg(pending.config_url)
        key = b32encode(pending.bin_key).decode()
        context["secret"] = " ".join(key[i : i + 4] for i in range(0, len(key), 4))
    return TemplateResponse(request, "admin/two_factor.html", context)


def reset_for(users) -> int:
    """Turn two-factor login off for ``users`` (a lost phone, no recovery codes
    left): they sign in with the password and may enrol again."""
    with transaction.atomic():
        StaticDevice.objects.filter(user__in=users).delete()
        return TOTPDevice.objects.filter(user__in=users, confirmed=True).delete()[0]
