import factory

from cases.models import Category


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"分类{n}")
    code = factory.Sequence(lambda n: f"C{n:04d}")
