"""Outside channels: pluggable backends named in ``settings.HOTLINE_NOTIFY_BACKENDS``
(e-mail, SMS, enterprise-chat robots), and the texts they send."""

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.parse
import urllib.request

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils.module_loading import import_string

from departments.models import StaffProfile

from ..models import Delivery, Notification

logger = logging.getLogger(__name__)


# -- backends ------------------------------------------------------------------------


class DeliveryError(Exception):
    """The gateway refused or failed; the delivery will be retried."""


class EmailBackend:
    """Django's mail (``EMAIL_BACKEND``), with Chinese templates."""

    def send(self, delivery: Delivery) -> None:
        n = delivery.notification
        context = {"notification": n, "ticket": n.ticket, "site_url": settings.HOTLINE_SITE_URL}
        subject = render_to_string("notifications/email_subject.txt", context).strip()
        body = render_to_string("notifications/email_body.txt", context)
        send_mail(subject, body, None, [delivery.address], fail_silently=False)


class LogSMSBackend:
    """The default SMS backend: writes the message to the log (no gateway needed)."""

    def send(self, delivery: Delivery) -> None:
        logger.info("SMS to %s: %s", delivery.address, sms_text(delivery.notification))


class HTTPJSONBackend:
    """Posts JSON to a webhook; a non-2xx answer or an ``errcode`` ≠ 0 is a failure."""

    timeout = 10

    def payload(self, delivery: Delivery) -> dict:
        raise NotImplementedError

    def url(self, delivery: Delivery) -> str:
        return delivery.address

    def send(self, delivery: Delivery) -> None:
        body = json.dumps(self.payload(delivery), ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(
            self.url(delivery), data=body, headers={"Content-Type": "application/json; charset=utf-8"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except OSError as error:  # URLError, HTTPError, timeouts
            raise DeliveryError(f"{type(error).__name__}: {error}") from error
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = {}
        if isinstance(answer, dict) and answer.get("errcode", 0) != 0:
            raise DeliveryError(f"robot answered errcode={answer.get('errcode')}: {answer.get('errmsg', '')}")


class WeComRobotBackend(HTTPJSONBackend):
    """企业微信群机器人: ``{"msgtype": "text", "text": {"content": …, "mentioned_mobile_list": […]}}``."""

    def payload(self, delivery):
        n = delivery.notification
        mobiles = [m for m in [_mobile_of(n.recipient)] if m]
        return {"msgtype": "text", "text": {"content": chat_text(n), "mentioned_mobile_list": mobiles}}


class DingTalkRobotBackend(HTTPJSONBackend):
    """钉钉群机器人, signed with the robot's secret (``HOTLINE_DINGTALK_SECRET``) when set."""

    def payload(self, delivery):
        n = delivery.notification
        mobiles = [m for m in [_mobile_of(n.recipient)] if m]
        return {"msgtype": "text", "text": {"content": chat_text(n)}, "at": {"atMobiles": mobiles, "isAtAll": False}}

    def url(self, delivery):
        secret = settings.HOTLINE_DINGTALK_SECRET
        if not secret:
            return delivery.address
        timestamp = str(round(time.time() * 1000))
        digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
        sign = urllib.parse.quote_plus(base64.b64encode(digest))
        joiner = "&" if "?" in delivery.address else "?"
        return f"{delivery.address}{joiner}timestamp={timestamp}&sign={sign}"


def backend_for(channel: str):
    return import_string(settings.HOTLINE_NOTIFY_BACKENDS[channel])()


# -- texts ---------------------------------------------------------------------------


def sms_text(n: Notification) -> str:
    return f"【12345】{n.title}" + (f"（{n.ticket.number}）" if n.ticket_id and n.ticket.number not in n.title else "")


def chat_text(n: Notification) -> str:
    link = f"\n{settings.HOTLINE_SITE_URL}/admin/cases/ticket/{n.ticket_id}/change/" if n.ticket_id else ""
    return f"{n.title}\n{n.body}{link}"


def _mobile_of(user) -> str:
    """The mobile a chat robot @-mentions: the staff profile's number."""
    try:
        return user.staff.phone
    except StaffProfile.DoesNotExist:
        return ""
