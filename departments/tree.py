"""A small materialized-path tree for the unit tree and the category tree.

Each node stores ``path`` = the primary keys from the root down to itself, as
``/1/7/42/``. A subtree is one indexed ``path LIKE '/1/7/%'`` query and the
ancestors are read off the path without a query. Moving a node rewrites the paths
of its descendants in one statement. Trees here are small (thousands of units,
hundreds of categories), so the simplicity wins over nested sets.
"""

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr
from django.utils.translation import gettext_lazy as _

ERR_PARENT_CYCLE = _("上级不能是自身或自身的下级。")


class TreeNode(models.Model):
    """Abstract base: subclasses declare ``parent = ForeignKey("self", ...)``."""

    path = models.CharField(max_length=255, editable=False, db_index=True, default="")
    depth = models.PositiveSmallIntegerField(editable=False, default=1)

    class Meta:
        abstract = True

    # -- writing ------------------------------------------------------------------

    def save(self, *args, **kwargs):
        parent = self.parent
        if parent is not None and self.pk is not None and parent.is_descendant_of(self):
            raise ValidationError({"parent": ERR_PARENT_CYCLE})
        old_path = self.path
        with transaction.atomic():
            super().save(*args, **kwargs)
            prefix = parent.path if parent is not None else "/"
            new_path = f"{prefix}{self.pk}/"
            if new_path != old_path:
                self._move_to(old_path, new_path)

    def clean(self):
        super().clean()
        parent = self.parent
        if parent is not None and self.pk is not None and parent.is_descendant_of(self):
            raise ValidationError({"parent": ERR_PARENT_CYCLE})

    # -- reading ------------------------------------------------------------------

    @property
    def ancestor_ids(self) -> list[int]:
        """Primary keys from the root down to the parent (not including self)."""
        return [int(part) for part in self.path.strip("/").split("/") if part][:-1]

    @property
    def lineage_ids(self) -> list[int]:
        """Primary keys from the root down to and including self."""
        return [*self.ancestor_ids, self.pk]

    def descendants(self, include_self: bool = True):
        qs = type(self)._default_manager.filter(path__startswith=self.path)
        return qs if include_self else qs.exclude(pk=self.pk)

    def ancestors(self, include_self: bool = False):
        ids = self.lineage_ids if include_self else self.ancestor_ids
        return type(self)._default_manager.filter(pk__in=ids).order_by("depth")

    def is_descendant_of(self, other, include_self: bool = True) -> bool:
        if other is None:
            return False
        if self.pk == other.pk:
            return include_self
        return other.pk in self.ancestor_ids

    def _move_to(self, old_path: str, new_path: str) -> None:
        manager = type(self)._default_manager
        new_depth = new_path.count("/") - 1
        if old_path:
            # Rewrite the subtree's prefix in one statement (descendants included).
            delta = new_depth - self.depth
            manager.filter(path__startswith=old_path).update(
                path=Concat(Value(new_path), Substr("path", len(old_path) + 1)),
                depth=F("depth") + delta,
            )
        else:
            manager.filter(pk=self.pk).update(path=new_path, depth=new_depth)
        self.path = new_path
        self.depth = new_depth
