"""The roles of DESIGN §2.

A role is both a ``StaffProfile.role`` value (what the workflow checks) and a
``django.contrib.auth`` group of the same name (what carries model permissions in
the admin). Saving a profile keeps the user's group membership in step.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OPERATOR = "operator", _("话务员")
    DISPATCHER = "dispatcher", _("派单员")
    HANDLER = "handler", _("承办人")
    UNIT_HEAD = "unit_head", _("部门负责人")
    SUPERVISOR = "supervisor", _("督办员")
    CALLBACK = "callback", _("回访员")
    GRID_WORKER = "gridworker", _("网格员")
    LEADER = "leader", _("领导")
    #: The centre's wall screen (大屏): sees the wall and nothing else — no admin,
    #: no API, no exports (``cases.selectors.scope.wall_centre``).
    DISPLAY = "display", _("大屏展示")


#: The centre's roles. At the hotline centre they see every ticket of the city
#: (DESIGN §2: "the centre, supervisors and leaders everything"; operators and
#: callback agents need the whole picture to answer a caller about any earlier
#: demand). At a unit that runs a sub-centre (``Department.is_subcentre``) they act
#: and see within that unit's subtree only: ``cases.selectors.scope.staff_centre``.
CENTRE_ROLES = frozenset({Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR, Role.CALLBACK, Role.LEADER})
#: Kept for callers that predate sub-centres: the same set. Whether a person is
#: citywide is ``cases.selectors.scope.is_citywide`` (it knows about sub-centres).
CITYWIDE_ROLES = CENTRE_ROLES
#: Centre roles that only a centre may staff: the hotline centre or a sub-centre
#: (leaders may sit anywhere, DESIGN §2).
CENTRE_DESK_ROLES = frozenset({Role.OPERATOR, Role.DISPATCHER, Role.SUPERVISOR, Role.CALLBACK})
#: Roles that sit at a centre (the hotline centre or a sub-centre) only: the desks
#: and the wall screen's display account.
CENTRE_ONLY_ROLES = CENTRE_DESK_ROLES | {Role.DISPLAY}
#: Roles that act for a unit and see that unit's subtree.
UNIT_ROLES = frozenset({Role.HANDLER, Role.UNIT_HEAD})
