"""Work queues: "what must I do now", per role (DESIGN §2, issue #3).

A queue is a named filter over the tickets a user may see. The admin index shows
the counts of the user's queues (one aggregate query), and each count links to
the ticket list filtered by that queue."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from departments.roles import Role
from departments.selectors import staff_profile

from .. import clock
from ..models import (
    OPEN_STATES,
    Callback,
    Cluster,
    ClusterMember,
    CoHandling,
    Reminder,
    TicketApplication,
    TicketEvent,
    TicketState,
    Urge,
    due_soon_q,
    overdue_any_clock_q,
)
from .scope import staff_centre, ticket_list

S = TicketState


@dataclass(frozen=True)
class Context:
    user: object
    department_id: int | None
    now: datetime
    #: The sub-centre the user works for; ``None``: the hotline centre (or not centre staff).
    centre_id: int | None = None

    @property
    def today(self) -> tuple[datetime, datetime]:
        return clock.day_bounds(clock.local_day(self.now))


def _received_today(ctx) -> Q:
    start, end = ctx.today
    return Q(received_at__gte=start, received_at__lt=end)


def _pending(kind):
    return Exists(
        TicketApplication.objects.filter(ticket_id=OuterRef("pk"), kind=kind, status=TicketApplication.Status.PENDING)
    )


def _centre_intake(ctx) -> Q:
    """Received tickets the user's centre is to dispatch: the city's own (not
    transferred), or the ones its sub-centre owns and has signed."""
    if ctx.centre_id is None:
        return Q(state=S.RECEIVED, centre__isnull=True)
    return Q(state=S.RECEIVED, centre_id=ctx.centre_id, centre_signed_at__isnull=False)


def _objection_overdue(ctx) -> Exists:
    """A dispatch objection the centre has not ruled on by its deadline (red)."""
    return Exists(
        TicketApplication.objects.filter(
            ticket_id=OuterRef("pk"),
            kind=TicketApplication.Kind.OBJECTION,
            status=TicketApplication.Status.PENDING,
            due_at__lte=ctx.now,
        )
    )


def _off_catalogue(ctx) -> Exists:
    """派单目录: some dispatch or sub-dispatch of the ticket went outside its
    category's catalogue (the fact ``TicketEvent.off_catalogue``, set by the verb)."""
    return Exists(TicketEvent.objects.filter(ticket_id=OuterRef("pk"), off_catalogue=True))


def _own(ctx) -> Q:
    return Q(assignee_department_id=ctx.department_id)


#: Work lists sort the most urgent first, then the nearest deadline, then the newest
#: (the pk last, so that "the next ticket" of a list is always the same one).
WORKLIST_ORDERING = ("priority", F("next_due_at").asc(nulls_last=True), "-received_at", "-pk")
#: Waiting for a first step (dispatch): the most urgent, then the longest waiting.
WAITING_ORDERING = ("priority", "received_at", "pk")


@dataclass(frozen=True)
class Queue:
    key: str
    label: str
    build: object  # Context -> Q | Exists
    tone: str = ""  # "", "warning" or "danger": how the count is shown
    #: The order in which the queue is worked (the list and "提交并处理下一条").
    ordering: tuple = WORKLIST_ORDERING

    def condition(self, ctx: Context):
        return self.build(ctx)


QUEUES = {
    q.key: q
    for q in [
        Queue("my_intake_today", _("我今日受理"), lambda c: Q(created_by=c.user) & _received_today(c)),
        Queue("intake_today", _("今日受理"), lambda c: _received_today(c)),
        Queue("to_dispatch", _("待派单"), _centre_intake, "warning", WAITING_ORDERING),
        Queue(
            "to_centre_sign",
            _("转办待签收"),
            lambda c: Q(state=S.RECEIVED, centre_id=c.centre_id, centre_signed_at__isnull=True),
            "warning",
            WAITING_ORDERING,
        ),
        Queue("to_review", _("待审核"), lambda c: Q(state=S.REVIEWING), "warning"),
        Queue("return_requests", _("退单申请"), lambda c: _pending(TicketApplication.Kind.RETURN), "warning"),
        Queue("extension_requests", _("延期申请"), lambda c: _pending(TicketApplication.Kind.EXTENSION), "warning"),
        Queue(
            "objection_requests", _("派单异议待裁定"), lambda c: _pending(TicketApplication.Kind.OBJECTION), "warning"
        ),
        Queue("objections_overdue", _("派单异议超时未裁定"), _objection_overdue, "danger"),
        Queue(
            "arbitration_requests",
            _("协调申请"),
            lambda c: _pending(TicketApplication.Kind.ARBITRATION),
            "warning",
        ),
        Queue("off_catalogue", _("目录外派单"), _off_catalogue, "warning"),
        Queue(
            "to_sign",
            _("待签收"),
            lambda c: (
                (Q(state=S.DISPATCHED, assignee_worker__isnull=True) & _own(c))
                | Exists(
                    CoHandling.objects.filter(
                        ticket_id=OuterRef("pk"), department_id=c.department_id, status=CoHandling.Status.PENDING
                    )
                )
            ),
            "warning",
        ),
        Queue("in_hand", _("办理中"), lambda c: Q(state=S.HANDLING) & _own(c)),
        Queue(
            "due_soon",
            _("即将到期"),
            lambda c: due_soon_q(c.now) & _own(c),
            "warning",
        ),
        Queue(
            "overdue",
            _("已超期"),
            lambda c: overdue_any_clock_q(c.now) & _own(c),
            "danger",
        ),
        Queue("rework", _("退回重办"), lambda c: Q(state=S.HANDLING, rework_count__gt=0) & _own(c), "danger"),
        Queue(
            "all_due_soon",
            _("全市即将到期"),
            lambda c: due_soon_q(c.now),
            "warning",
        ),
        Queue("all_overdue", _("全市超期"), lambda c: overdue_any_clock_q(c.now), "danger"),
        Queue(
            "escalated",
            _("升级督办"),
            lambda c: (
                Q(state__in=OPEN_STATES)
                & Exists(Reminder.objects.filter(ticket_id=OuterRef("pk"), level=Reminder.Level.ESCALATED))
            ),
            "danger",
        ),
        Queue(
            "urges_open",
            _("待签收催办"),
            lambda c: Exists(
                Urge.objects.filter(
                    ticket_id=OuterRef("pk"), department_id=c.department_id, acknowledged_at__isnull=True
                )
            ),
            "danger",
        ),
        Queue(
            "unsatisfied",
            _("回访不满意"),
            lambda c: Exists(
                Callback.objects.filter(
                    Q(solved=Callback.Solved.UNSOLVED) | Q(satisfaction=Callback.Satisfaction.UNSATISFIED),
                    ticket_id=OuterRef("pk"),
                    status=Callback.Status.DONE,
                    overruled_at__isnull=True,
                    completed_at__gte=c.now - timedelta(days=30),
                )
            ),
            "danger",
        ),
        Queue("reworked3", _("退回重办3次以上"), lambda c: Q(state__in=OPEN_STATES, rework_count__gte=3), "danger"),
        Queue("passed3", _("经手3个以上单位"), lambda c: Q(state__in=OPEN_STATES, units_passed__gte=3), "danger"),
        Queue(
            "clustered",
            _("聚类诉求"),
            lambda c: (
                Q(state__in=OPEN_STATES)
                & Exists(ClusterMember.objects.filter(ticket_id=OuterRef("pk"), cluster__status=Cluster.Status.OPEN))
            ),
            "warning",
        ),
        Queue(
            "urges_unacked",
            _("催办未签收"),
            lambda c: Exists(Urge.objects.filter(ticket_id=OuterRef("pk"), acknowledged_at__isnull=True)),
            "warning",
        ),
        Queue(
            "signoff_pending",
            _("待负责人签批"),
            lambda c: Q(state=S.HANDLING, signoff_pending=True) & Q(lead_department_id=c.department_id),
            "warning",
        ),
        Queue("escalated_to_me", _("交办我的"), lambda c: Q(escalated_to=c.user, state__in=OPEN_STATES), "danger"),
        Queue("problem", _("问题工单"), lambda c: Q(is_problem=True, state__in=OPEN_STATES), "danger"),
        Queue("my_reports", _("我上报的"), lambda c: Q(created_by=c.user)),
        # A hop of the sub-dispatch chain addressed to a grid worker (下派至网格员).
        Queue("worker_to_sign", _("待我签收"), lambda c: Q(state=S.DISPATCHED, assignee_worker=c.user), "warning"),
        Queue("worker_in_hand", _("我办理中"), lambda c: Q(state=S.HANDLING, assignee_worker=c.user)),
        Queue("my_grid_open", _("本网格未办结"), lambda c: Q(state__in=OPEN_STATES)),
    ]
}

ROLE_QUEUES = {
    Role.OPERATOR: ["my_intake_today", "intake_today", "to_dispatch"],
    Role.DISPATCHER: [
        "to_dispatch",
        "to_review",
        "return_requests",
        "extension_requests",
        "objection_requests",
        "objections_overdue",
        "arbitration_requests",
        "all_overdue",
    ],
    # A sub-centre's dispatchers also sign what the city transfers (``queues_for``).
    Role.HANDLER: ["to_sign", "in_hand", "due_soon", "overdue", "rework", "urges_open"],
    Role.UNIT_HEAD: ["signoff_pending", "to_sign", "in_hand", "due_soon", "overdue", "rework", "urges_open"],
    Role.SUPERVISOR: [
        "all_overdue",
        "all_due_soon",
        "unsatisfied",
        "reworked3",
        "passed3",
        "clustered",
        "escalated",
        "urges_unacked",
        "off_catalogue",
    ],
    Role.CALLBACK: ["intake_today"],
    Role.GRID_WORKER: ["worker_to_sign", "worker_in_hand", "my_reports", "my_grid_open"],
    Role.LEADER: ["escalated_to_me", "intake_today", "all_overdue", "problem"],
}
SUPERUSER_QUEUES = ["to_dispatch", "to_review", "return_requests", "extension_requests", "all_overdue", "problem"]


def queue_context(user, now=None) -> Context:
    profile = staff_profile(user)
    centre = staff_centre(user)
    return Context(
        user=user,
        department_id=profile.department_id if profile else None,
        now=now or clock.now(),
        centre_id=centre.unit_id if centre is not None else None,
    )


def queues_for(user) -> list[Queue]:
    if user.is_superuser and staff_profile(user) is None:
        keys = SUPERUSER_QUEUES
    else:
        profile = staff_profile(user)
        keys = ROLE_QUEUES.get(profile.role, []) if profile else []
        centre = staff_centre(user)
        if profile is not None and profile.role == Role.DISPATCHER and centre is not None and not centre.citywide:
            keys = ["to_centre_sign", *keys]
    return [QUEUES[key] for key in keys]


def queue_get(user, key) -> Queue | None:
    """The queue ``key`` if it is one of ``user``'s queues."""
    return next((q for q in queues_for(user) if q.key == key), None)


def queue_filter(queryset, queue: Queue, ctx: Context):
    condition = queue.condition(ctx)
    return queryset.filter(condition)


def queue_counts(user, now=None) -> list[tuple[Queue, int]]:
    """Counts of the user's queues within their scope, in one query."""
    queues = queues_for(user)
    if not queues:
        return []
    ctx = queue_context(user, now)
    counts = ticket_list(user=user).aggregate(
        **{queue.key: Count("pk", filter=_as_q(queue.condition(ctx))) for queue in queues}
    )
    return [(queue, counts[queue.key]) for queue in queues]


def _as_q(condition):
    return condition if isinstance(condition, Q) else Q(condition)
