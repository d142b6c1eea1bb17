"""Writes to the organisation: branches keep their materialised path, operators their login link."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from workbench.org.models import Branch, Operator
from workbench.org.roles import Role


@transaction.atomic
def branch_create(
    *, name: str, level: int, parent: Branch | None = None, wecom_department_id: int | None = None, order: int = 0
) -> Branch:
    branch = Branch.objects.create(
        name=name, level=level, parent=parent, wecom_department_id=wecom_department_id, order=order, path=""
    )
    branch.path = Branch.path_for(parent_path=parent.path if parent else None, pk=branch.pk)
    branch.save(update_fields=["path"])
    return branch


@transaction.atomic
def branch_move(*, branch: Branch, new_parent: Branch) -> Branch:
    if new_parent.path.startswith(branch.path):
        raise ValueError("A branch cannot be moved below itself.")
    old_prefix = branch.path
    new_prefix = Branch.path_for(parent_path=new_parent.path, pk=branch.pk)
    for node in Branch.objects.select_for_update().filter(path__startswith=old_prefix):
        node.path = new_prefix + node.path[len(old_prefix) :]
        if node.pk == branch.pk:
            node.parent = new_parent
        node.save(update_fields=["path", "parent"])
    branch.refresh_from_db()
    return branch


def operator_create(
    *,
    name: str,
    branch: Branch,
    role: str = Role.OPERATOR,
    wecom_userid: str | None = None,
    username: str | None = None,
    password: str | None = None,
    title: str = "",
) -> Operator:
    user = None
    if username:
        user = get_user_model().objects.create_user(username=username, password=password)
        if password is None:
            user.set_unusable_password()
            user.save(update_fields=["password"])
    return Operator.objects.create(
        user=user, name=name, branch=branch, role=role, wecom_userid=wecom_userid, title=title
    )


def operator_resign(*, operator: Operator) -> Operator:
    """A resigned member keeps its history; its login stops working."""
    operator.status = Operator.Status.RESIGNED
    operator.resigned_at = timezone.now()
    operator.save(update_fields=["status", "resigned_at"])
    if operator.user_id:
        operator.user.is_active = False
        operator.user.save(update_fields=["is_active"])
    return operator
