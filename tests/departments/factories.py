import factory
from django.contrib.auth import get_user_model

from departments.models import Department, Grid, StaffProfile

PASSWORD = "pass-12345"


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department

    name = factory.Sequence(lambda n: f"单位{n}")
    kind = Department.Kind.BUREAU


class GridFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Grid

    name = factory.Sequence(lambda n: f"第{n}网格")
    code = factory.Sequence(lambda n: f"G{n:05d}")
    community = factory.SubFactory(DepartmentFactory, kind=Department.Kind.COMMUNITY)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def staff(role, department, username=None, **user_fields):
    """A staff user of ``role`` working for ``department``."""
    kwargs = {"username": username} if username else {}
    user = UserFactory(**kwargs, **user_fields)
    StaffProfile.objects.create(user=user, department=department, role=role)
    return user
