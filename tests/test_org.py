"""Organisation services: the branch tree keeps its materialised paths; resignation switches the login off."""

import pytest
from django.contrib.auth import authenticate
from django.test import RequestFactory

from tests.factories import PASSWORD, BranchFactory, OperatorFactory
from workbench.org.models import Branch, Operator
from workbench.org.services import branch_create, branch_move, operator_create, operator_resign

pytestmark = pytest.mark.django_db


def _tree():
    head = branch_create(name="总行", level=Branch.Level.HEAD_OFFICE)
    branch = branch_create(name="分行", level=Branch.Level.BRANCH, parent=head)
    sub = branch_create(name="支行", level=Branch.Level.SUB_BRANCH, parent=branch)
    outlet = branch_create(name="网点", level=Branch.Level.OUTLET, parent=sub)
    return head, branch, sub, outlet


def test_branch_create_builds_the_path_from_the_parent():
    head, branch, sub, outlet = _tree()
    assert head.path == f"/{head.pk:08d}/"
    assert branch.path == f"/{head.pk:08d}/{branch.pk:08d}/"
    assert sub.path == f"/{head.pk:08d}/{branch.pk:08d}/{sub.pk:08d}/"
    assert outlet.path == f"/{head.pk:08d}/{branch.pk:08d}/{sub.pk:08d}/{outlet.pk:08d}/"
    assert [head.depth, branch.depth, sub.depth, outlet.depth] == [0, 1, 2, 3]
    assert Branch.objects.get(pk=outlet.pk).path == outlet.path  # saved, not only set in memory
    assert list(Branch.objects.filter(path__startswith=branch.path)) == [branch, sub, outlet]


def test_branch_move_repaths_the_whole_subtree():
    head, branch, sub, outlet = _tree()
    other = branch_create(name="另一分行", level=Branch.Level.BRANCH, parent=head)
    sibling = branch_create(name="另一支行", level=Branch.Level.SUB_BRANCH, parent=branch)

    moved = branch_move(branch=sub, new_parent=other)

    assert moved.parent == other
    assert moved.path == f"{other.path}{sub.pk:08d}/"
    outlet.refresh_from_db()
    assert outlet.path == f"{other.path}{sub.pk:08d}/{outlet.pk:08d}/"
    assert outlet.parent_id == sub.pk  # only the moved node changes parent
    sibling.refresh_from_db()
    assert sibling.path == f"{branch.path}{sibling.pk:08d}/"  # untouched
    assert set(Branch.objects.filter(path__startswith=other.path)) == {other, sub, outlet}
    assert set(Branch.objects.filter(path__startswith=branch.path)) == {branch, sibling}


def test_branch_move_refuses_to_move_under_itself_or_its_descendants():
    head, branch, sub, outlet = _tree()
    with pytest.raises(ValueError):
        branch_move(branch=branch, new_parent=branch)
    with pytest.raises(ValueError):
        branch_move(branch=branch, new_parent=outlet)
    branch.refresh_from_db()
    outlet.refresh_from_db()
    assert branch.path == f"/{head.pk:08d}/{branch.pk:08d}/"
    assert outlet.path == f"/{head.pk:08d}/{branch.pk:08d}/{sub.pk:08d}/{outlet.pk:08d}/"


def test_branch_move_is_not_fooled_by_a_shared_id_prefix():
    """Branch 3 must not be treated as the ancestor of branch 37: segments are fixed-width and end with a slash."""
    head = branch_create(name="总行", level=Branch.Level.HEAD_OFFICE)
    first = branch_create(name="一", level=Branch.Level.BRANCH, parent=head)
    # A sibling whose id begins with the first one's digits (3 and 37, 52 and 527 ...), rows as the service writes.
    twin_pk = int(f"{first.pk}7")
    twin = Branch.objects.create(
        pk=twin_pk, name="二", level=Branch.Level.BRANCH, parent=head, path=f"{head.path}{twin_pk:08d}/"
    )

    moved = branch_move(branch=twin, new_parent=first)  # not "below itself"

    assert moved.path == f"{first.path}{twin_pk:08d}/"
    first.refresh_from_db()
    assert first.path == f"{head.path}{first.pk:08d}/"  # the first branch was not dragged along


def test_operator_create_with_and_without_login():
    outlet = BranchFactory()
    with_login = operator_create(name="甲", branch=outlet, username="jia", password=PASSWORD, wecom_userid="jia")
    assert with_login.user.check_password(PASSWORD)
    assert with_login.is_active
    without_password = operator_create(name="乙", branch=outlet, username="yi")
    assert not without_password.user.has_usable_password()
    no_login = operator_create(name="丙", branch=outlet)
    assert no_login.user is None


def test_operator_resign_deactivates_the_login():
    operator = OperatorFactory(username="leaver")
    assert (
        authenticate(RequestFactory().post("/accounts/login/"), username="leaver", password=PASSWORD) == operator.user
    )

    operator_resign(operator=operator)

    operator = Operator.objects.select_related("user").get(pk=operator.pk)
    assert operator.status == Operator.Status.RESIGNED
    assert operator.resigned_at is not None
    assert not operator.is_active
    assert not operator.user.is_active
    assert authenticate(RequestFactory().post("/accounts/login/"), username="leaver", password=PASSWORD) is None


def test_operator_resign_without_login():
    operator = OperatorFactory(username=None)
    operator_resign(operator=operator)
    operator.refresh_from_db()
    assert operator.status == Operator.Status.RESIGNED


def test_ordering_by_path_is_tree_order():
    """Depth-first order whatever the database collation: the branch tree and choice lists rely on it."""
    head = branch_create(name="总行", level=Branch.Level.HEAD_OFFICE)
    first = branch_create(name="一", level=Branch.Level.BRANCH, parent=head)
    second = branch_create(name="二", level=Branch.Level.BRANCH, parent=head)
    under_first = branch_create(name="一之一", level=Branch.Level.SUB_BRANCH, parent=first)
    assert list(Branch.objects.filter(path__startswith=head.path)) == [head, first, under_first, second]
