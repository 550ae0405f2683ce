from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class DispatchHop(models.Model):
    """One hop of a sub-dispatch chain (下派): from a unit holding the ticket to a
    unit below it, or from a community to one of its grids' workers. Written by the
    workflow only (``cases.workflow.chain``).

    The ticket's current chain is its open hops (``ended_at`` empty), in order from
    the lead unit down to the holder (``Ticket.assignee_department`` /
    ``assignee_worker``). Each hop has its own sign clock; its sign is the hop's
    fact (``signed_at``, ``on_time``), written once and never rewritten. The lead
    unit's sign of the dispatch stays the lead's fact (签收及时率)."""

    class End(models.TextChoices):
        TAKEN_BACK = "taken_back", _("上级收回")
        HANDED_BACK = "handed_back", _("交回上级")
        LEFT = "left", _("工单离开本单位")

    ticket = models.ForeignKey("cases.Ticket", verbose_name=_("工单"), on_delete=models.CASCADE, related_name="hops")
    dispatch = models.ForeignKey(
        "cases.TicketEvent",
        verbose_name=_("所属派单"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,  # the timeline is partitioned (cases.partitions); written by the workflow only
    )
    from_department = models.ForeignKey(
        "departments.Department", verbose_name=_("下派单位"), on_delete=models.PROTECT, related_name="+"
    )
    to_department = models.ForeignKey(
        "departments.Department",
        verbose_name=_("接收单位"),
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("下派给网格员时为其所在社区。"),
    )
    to_worker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("接收网格员"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    grid = models.ForeignKey(
        "departments.Grid", verbose_name=_("网格"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("下派人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    sent_at = models.DateTimeField(_("下派时间"))
    sign_due_at = models.DateTimeField(_("签收时限"), null=True, blank=True)
    sign_warn_at = models.DateTimeField(_("签收预警时间"), null=True, blank=True)
    signed_at = models.DateTimeField(_("签收时间"), null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("签收人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    on_time = models.BooleanField(_("按时签收"), null=True, blank=True)
    ended_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    end = models.CharField(_("结束方式"), max_length=16, choices=End.choices, blank=True)

    class Meta:
        verbose_name = _("下派环节")
        verbose_name_plural = _("下派环节")
        ordering = ["sent_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "sent_at"], name="hop_ticket_time"),
            models.Index(fields=["to_department", "sent_at"], name="hop_unit_time"),
        ]
        constraints = [
            # A unit receives a ticket at most once in the open chain.
            models.UniqueConstraint(
                fields=["ticket", "to_department"],
                condition=Q(ended_at__isnull=True, to_worker__isnull=True),
                name="hop_open_unit_once",
            ),
        ]

    def __str__(self):
        return f"{self.ticket_id}: {self.from_department_id} → {self.to_department_id}"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None
