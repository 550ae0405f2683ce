"""Rollups, stored reports, subscriptions, exports and spikes."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

#: The counters every rate is computed from (see reports.metrics), each
#: attributed to the day its event happened.
COUNTER_FIELDS = [
    "received",
    "dispatched",
    "sign_clocked",
    "signed_on_time",
    "contact_clocked",
    "contacted_on_time",
    "returned",
    "extended",
    "due",
    "due_closed",
    "due_closed_on_time",
    "closed",
    "handled",
    "handling_hours",
    "cb_valid",
    "cb_contacted",
    "cb_solved",
    "cb_partly",
    "cb_satisfied",
    "cb_basically",
    "cb_unsatisfied",
    "cb_reopened",
    "cohandled",
]


class RollupMark(models.Model):
    """How far the rollups have seen the record: the last timeline event and the
    time of the last rebuild (callbacks recorded or overruled after it)."""

    name = models.CharField(_("名称"), max_length=32, primary_key=True)
    event_id = models.BigIntegerField(_("已处理至办理记录"), default=0)
    built_at = models.DateTimeField(_("生成时间"))

    class Meta:
        verbose_name = _("统计进度")
        verbose_name_plural = _("统计进度")

    def __str__(self):
        return self.name


class DayCounters(models.Model):
    """The counters of reports.metrics for one local day and one key (a unit, a
    category): what a rollup row holds."""

    day = models.DateField(_("日期"))
    received = models.PositiveIntegerField(default=0)
    dispatched = models.PositiveIntegerField(default=0)
    sign_clocked = models.PositiveIntegerField(default=0)
    signed_on_time = models.PositiveIntegerField(default=0)
    contact_clocked = models.PositiveIntegerField(default=0)
    contacted_on_time = models.PositiveIntegerField(default=0)
    returned = models.PositiveIntegerField(default=0)
    extended = models.PositiveIntegerField(default=0)
    due = models.PositiveIntegerField(default=0)
    due_closed = models.PositiveIntegerField(default=0)
    due_closed_on_time = models.PositiveIntegerField(default=0)
    closed = models.PositiveIntegerField(default=0)
    handled = models.PositiveIntegerField(default=0)
    handling_hours = models.FloatField(default=0)
    cb_valid = models.PositiveIntegerField(default=0)
    cb_contacted = models.PositiveIntegerField(default=0)
    cb_solved = models.PositiveIntegerField(default=0)
    cb_partly = models.PositiveIntegerField(default=0)
    cb_satisfied = models.PositiveIntegerField(default=0)
    cb_basically = models.PositiveIntegerField(default=0)
    cb_unsatisfied = models.PositiveIntegerField(default=0)
    cb_reopened = models.PositiveIntegerField(default=0)
    cohandled = models.PositiveIntegerField(default=0)
    built_at = models.DateTimeField(_("生成时间"), default=timezone.now)

    class Meta:
        abstract = True


class DailyUnitStat(DayCounters):
    """Pre-aggregated counters per day and lead unit (the dashboard and the
    rankings read these instead of scanning tickets)."""

    department = models.ForeignKey(
        "departments.Department", verbose_name=_("承办单位"), null=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        verbose_name = _("单位日统计")
        verbose_name_plural = _("单位日统计")
        constraints = [
            models.UniqueConstraint(fields=["day", "department"], name="dailyunitstat_unique"),
        ]
        indexes = [models.Index(fields=["department", "day"], name="dailyunitstat_unit_day")]

    def __str__(self):
        return f"{self.day} {self.department_id}"


class DailyCategoryStat(DayCounters):
    """The same counters per day and the ticket's category (the reports' category
    table reads these)."""

    category = models.ForeignKey(
        "cases.Category",
        verbose_name=_("诉求分类"),
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,  # a cache: rebuilt, never a reason to refuse a delete
        related_name="+",
    )

    class Meta:
        verbose_name = _("分类日统计")
        verbose_name_plural = _("分类日统计")
        constraints = [models.UniqueConstraint(fields=["day", "category"], name="dailycategorystat_unique")]

    def __str__(self):
        return f"{self.day} {self.category_id}"


class DailyDispatchStat(models.Model):
    """派单准确率's counts (reports.accuracy) per day of the dispatch, dispatcher,
    dispatching unit and the ticket's category: every axis of the table sums these."""

    day = models.DateField(_("日期"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("派单员"),
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_department = models.ForeignKey(
        "departments.Department",
        verbose_name=_("派单单位"),
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    category = models.ForeignKey(
        "cases.Category",
        verbose_name=_("诉求分类"),
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    dispatched = models.PositiveIntegerField(default=0)
    returned = models.PositiveIntegerField(default=0)
    objected = models.PositiveIntegerField(default=0)
    off_catalogue = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("派单日统计")
        verbose_name_plural = _("派单日统计")
        indexes = [models.Index(fields=["day"], name="dailydispatchstat_day")]

    def __str__(self):
        return f"{self.day} {self.actor_id} {self.actor_department_id} {self.category_id}"


class RollupDay(models.Model):
    """When each day's rollup rows were last built: a day built after it ended (and
    not touched since the mark) equals the record."""

    day = models.DateField(_("日期"), primary_key=True)
    built_at = models.DateTimeField(_("生成时间"))

    class Meta:
        verbose_name = _("日统计生成记录")
        verbose_name_plural = _("日统计生成记录")

    def __str__(self):
        return f"{self.day} {self.built_at}"


class Report(models.Model):
    """An issued report (日小结 / 周通报 / 月评比 / 年考核): its content is frozen in
    ``data`` when issued, so it never changes afterwards."""

    class Kind(models.TextChoices):
        DAILY = "daily", _("日小结")
        WEEKLY = "weekly", _("周通报")
        MONTHLY = "monthly", _("月评比")
        YEARLY = "yearly", _("年考核")

    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    period_start = models.DateField(_("起始日期"))
    period_end = models.DateField(_("截止日期"), help_text=_("含当日。"))
    title = models.CharField(_("标题"), max_length=200)
    issued_at = models.DateTimeField(_("发布时间"), default=timezone.now)
    data = models.JSONField(_("内容"), default=dict)

    class Meta:
        verbose_name = _("统计报表")
        verbose_name_plural = _("统计报表")
        ordering = ["-period_start", "kind"]
        constraints = [models.UniqueConstraint(fields=["kind", "period_start"], name="report_once_per_period")]

    def __str__(self):
        return self.title


class ReportSubscription(models.Model):
    """Who receives which reports (inbox, and e-mail with the Excel file)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("订阅人"),
        on_delete=models.CASCADE,
        related_name="report_subscriptions",
    )
    kind = models.CharField(_("报表类型"), max_length=16, choices=Report.Kind.choices)

    class Meta:
        verbose_name = _("报表订阅")
        verbose_name_plural = _("报表订阅")
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="report_subscription_unique")]

    def __str__(self):
        return f"{self.user} · {self.get_kind_display()}"


class ExportJob(models.Model):
    """A ticket ledger (工单台账) being written to Excel in the background."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("导出中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("导出人"), on_delete=models.CASCADE, related_name="export_jobs"
    )
    query = models.TextField(_("筛选条件"), blank=True, help_text=_("工单列表的查询参数。"))
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(_("总行数"), default=0)
    done_rows = models.PositiveIntegerField(_("已导出"), default=0)
    file = models.FileField(_("文件"), upload_to="exports/%Y/%m/", blank=True)
    error = models.TextField(_("错误"), blank=True)
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    #: Set when a worker claims the job and at every progress step: a running job whose
    #: heartbeat is older than ``HOTLINE_EXPORT_STALE_MINUTES`` lost its worker.
    heartbeat_at = models.DateTimeField(_("最近进度"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("导出任务")
        verbose_name_plural = _("导出任务")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.user} · {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(self.done_rows * 100 / self.total) if self.total else 0


class Spike(models.Model):
    """突增: a category in a community far above its own trailing level on a day;
    raised once to the street office's inbox."""

    day = models.DateField(_("日期"))
    community = models.ForeignKey(
        "departments.Department", verbose_name=_("社区村"), on_delete=models.CASCADE, related_name="+"
    )
    category = models.ForeignKey(
        "cases.Category", verbose_name=_("诉求分类"), on_delete=models.CASCADE, related_name="+"
    )
    count = models.PositiveIntegerField(_("当日件数"))
    baseline = models.FloatField(_("前期日均"))
    created_at = models.DateTimeField(_("发现时间"), default=timezone.now)

    class Meta:
        verbose_name = _("突增预警")
        verbose_name_plural = _("突增预警")
        ordering = ["-day", "-count"]
        constraints = [models.UniqueConstraint(fields=["day", "community", "category"], name="spike_once")]

    def __str__(self):
        return f"{self.day} {self.community_id} {self.category_id}: {self.count}"
