from django.contrib.auth.models import Group
from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import StaffProfile
from .roles import Role


@receiver(post_save, sender=StaffProfile)
def sync_role_group(sender, instance: StaffProfile, **kwargs):
    """Keep the user in exactly the permission group of their role."""
    user = instance.user
    stale = user.groups.filter(name__in=Role.values).exclude(name=instance.role)
    if stale.exists():
        user.groups.remove(*stale)
    group, _ = Group.objects.get_or_create(name=instance.role)
    user.groups.add(group)
