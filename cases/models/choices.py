"""Enumerations of the domain (DESIGN §3): the code speaks English, the labels Chinese."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    HOTLINE = "hotline", _("12345热线")
    WEB = "web", _("网络平台")
    APP = "app", _("小程序/APP")
    MAILBOX = "mailbox", _("县长信箱/领导留言板")
    GRID = "grid", _("网格员上报")
    SUPERVISOR = "supervisor", _("监督员")
    WALL = "wall", _("问题墙")
    MEDIA = "media", _("舆情")
    SENSOR = "sensor", _("物联感知")


#: Channels whose tickets are found before anyone complains (未诉先办).
PROACTIVE_CHANNELS = frozenset({Channel.GRID, Channel.SENSOR, Channel.MEDIA})


class Nature(models.TextChoices):
    CONSULT = "consult", _("咨询")
    HELP = "help", _("求助")
    COMPLAINT = "complaint", _("投诉")
    REPORT = "report", _("举报")
    SUGGESTION = "suggestion", _("建议")
    PRAISE = "praise", _("表扬")


class Urgency(models.TextChoices):
    NORMAL = "normal", _("一般")
    URGENT = "urgent", _("紧急")
    CRITICAL = "critical", _("特急")


#: Sort key so that the most urgent tickets come first in work lists.
URGENCY_RANK = {Urgency.CRITICAL: 0, Urgency.URGENT: 1, Urgency.NORMAL: 2}


class TicketState(models.TextChoices):
    RECEIVED = "received", _("待派单")
    DISPATCHED = "dispatched", _("待签收")
    HANDLING = "handling", _("办理中")
    REVIEWING = "reviewing", _("待审核")
    CLOSED = "closed", _("已办结")
    MERGED = "merged", _("已并单")
    INVALID = "invalid", _("无效")


#: States in which a ticket is still being worked on.
OPEN_STATES = frozenset({TicketState.RECEIVED, TicketState.DISPATCHED, TicketState.HANDLING, TicketState.REVIEWING})
#: States in which a unit holds the ticket.
UNIT_STATES = frozenset({TicketState.DISPATCHED, TicketState.HANDLING})


class ReplyResult(models.TextChoices):
    SOLVED = "solved", _("已解决")
    EXPLAINED = "explained", _("已解释说明")
    UNSOLVABLE = "unsolvable", _("无法解决")


class InvalidKind(models.TextChoices):
    HARASSMENT = "harassment", _("骚扰电话")
    EMPTY = "empty", _("空号/无内容")
    MALICIOUS_REPEAT = "malicious_repeat", _("重复恶意诉求")
    OTHER = "other", _("其他")


class Clock(models.TextChoices):
    SIGN = "sign", _("签收")
    CONTACT = "contact", _("响应")
    RESOLVE = "resolve", _("办结")


class Colour(models.TextChoices):
    GREEN = "green", _("正常")
    YELLOW = "yellow", _("预警")
    RED = "red", _("超期")


class TimeUnit(models.TextChoices):
    MINUTE = "minute", _("分钟")
    HOUR = "hour", _("小时")
    WORKING_HOUR = "working_hour", _("工作小时")
    WORKING_DAY = "working_day", _("工作日")
