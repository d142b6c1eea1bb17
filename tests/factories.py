"""factory_boy factories that go through the real services, so derived columns are always right.

- branches through `branch_create` (the materialised `path`);
- operators through `operator_create` (the login user and its unusable/usable password);
- customers through `pii_columns` (ciphertext, masks and look-up hashes) with `branch` = the owner's branch.
"""

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from tagging.models import Customer, FollowRelationship
from tagging.services import pii_columns
from workbench.org.models import Branch, Operator
from workbench.org.roles import Role
from workbench.org.services import branch_create, operator_create

PASSWORD = "persona-pass-2024"


class BranchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Branch

    name = factory.Sequence(lambda n: f"网点{n}")
    level = Branch.Level.OUTLET
    parent = None

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return branch_create(**kwargs)


class OperatorFactory(factory.django.DjangoModelFactory):
    """`username=None` makes an operator without a login (a WeCom member who never signs in)."""

    class Meta:
        model = Operator

    name = factory.Sequence(lambda n: f"客户经理{n}")
    branch = factory.SubFactory(BranchFactory)
    role = Role.OPERATOR
    wecom_userid = factory.Sequence(lambda n: f"op{n:05d}")
    username = factory.Sequence(lambda n: f"user{n:05d}")
    password = PASSWORD

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return operator_create(**kwargs)


class UserFactory(factory.django.DjangoModelFactory):
    """A login with no operator profile."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"plain{n:05d}")
    password = factory.django.Password(PASSWORD)


class CustomerFactory(factory.django.DjangoModelFactory):
    """`mobile` and `id_number` are plaintext arguments; the stored columns come from `pii_columns`."""

    class Meta:
        model = Customer

    customer_no = factory.Sequence(lambda n: f"C{n:011d}")
    name = factory.Sequence(lambda n: f"顾客{n:05d}")
    owner = factory.SubFactory(OperatorFactory)
    mobile = factory.Sequence(lambda n: f"137{n:08d}")
    id_number = factory.Sequence(lambda n: f"3301061990{n:08d}")
    aum = factory.Sequence(lambda n: 1000 + n)
    external_userid = factory.Sequence(lambda n: f"wmEXT{n:08d}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        columns = pii_columns(mobile=kwargs.pop("mobile", ""), id_number=kwargs.pop("id_number", ""))
        owner = kwargs.get("owner")
        kwargs.setdefault("branch", owner.branch if owner is not None else None)
        return model_class.objects.create(**kwargs, **columns)


class FollowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FollowRelationship

    customer = factory.SubFactory(CustomerFactory)
    operator = factory.SubFactory(OperatorFactory)
    added_at = factory.LazyFunction(timezone.now)
