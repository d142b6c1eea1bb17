"""Data scope: the ONE place that answers "which customers, operators and branches may this user see".

Every list, detail page, export and API endpoint gets its querysets from here. Rules:

- whole bank (head-office admin, compliance reviewer, superuser): everything;
- branch subtree (branch manager, team lead): customers whose owner (管户) belongs to the user's branch or any
  branch below it; the operators and branches of that subtree;
- self (operator): the customers they own plus those they follow in WeCom right now; themselves.

A user with no operator profile (and not a superuser) sees nothing.
"""

from dataclasses import dataclass

from django.db.models import QuerySet
from django.http import Http404

from tagging.models import Customer, FollowRelationship
from workbench.org.models import Branch, Operator
from workbench.org.roles import NO_ACCESS, POLICIES, SUPERUSER, RolePolicy, Scope


@dataclass(frozen=True)
class Viewer:
    user_id: int | None
    operator: Operator | None
    policy: RolePolicy
    branch_path: str | None

    @property
    def scope(self) -> Scope:
        return self.policy.scope


_CACHE_ATTR = "_workbench_viewer"


def viewer_for(user) -> Viewer:
    """The user's role policy and anchor, computed once per request (cached on the user object)."""
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    viewer = _build_viewer(user)
    if user is not None and getattr(user, "is_authenticated", False):
        setattr(user, _CACHE_ATTR, viewer)
    return viewer


def _build_viewer(user) -> Viewer:
    if user is None or not user.is_authenticated or not user.is_active:
        return Viewer(None, None, NO_ACCESS, None)
    operator = Operator.objects.select_related("branch").filter(user=user).first()
    if operator is not None and operator.status == Operator.Status.ACTIVE:
        policy = POLICIES.get(operator.role, NO_ACCESS)
        return Viewer(user.pk, operator, policy, operator.branch.path)
    if user.is_superuser:
        return Viewer(user.pk, None, SUPERUSER, None)
    return Viewer(user.pk, None, NO_ACCESS, None)


def visible_branches(user) -> QuerySet[Branch]:
    viewer = viewer_for(user)
    branches = Branch.objects.all()
    if viewer.scope == Scope.BANK:
        return branches
    if viewer.scope == Scope.BRANCH:
        return branches.filter(path__startswith=viewer.branch_path)
    if viewer.scope == Scope.SELF:
        return branches.filter(pk=viewer.operator.branch_id)
    return branches.none()


def visible_branch_ids(user) -> list[int] | None:
    """Ids of the visible branches, or None for the whole bank (no filter needed)."""
    viewer = viewer_for(user)
    if viewer.scope == Scope.BANK:
        return None
    return list(visible_branches(user).values_list("pk", flat=True))


def visible_operators(user) -> QuerySet[Operator]:
    viewer = viewer_for(user)
    operators = Operator.objects.all()
    if viewer.scope == Scope.BANK:
        return operators
    if viewer.scope == Scope.BRANCH:
        return operators.filter(branch__path__startswith=viewer.branch_path)
    if viewer.scope == Scope.SELF:
        return operators.filter(pk=viewer.operator.pk)
    return operators.none()


def visible_customers(user) -> QuerySet[Customer]:
    viewer = viewer_for(user)
    customers = Customer.objects.all()
    if viewer.scope == Scope.BANK:
        return customers
    if viewer.scope == Scope.BRANCH:
        return customers.filter(branch_id__in=visible_branch_ids(user))
    if viewer.scope == Scope.SELF:
        # A UNION of two index scans: an OR across the owner column and a follow subquery makes PostgreSQL
        # scan the whole customer table (hundreds of ms at a million rows).
        owned = Customer.objects.filter(owner=viewer.operator).values("pk")
        followed = FollowRelationship.objects.filter(operator=viewer.operator, deleted_at__isnull=True).values(
            "customer_id"
        )
        return customers.filter(pk__in=owned.union(followed))
    return customers.none()


def visible_transfers(user):
    """WeCom customer transfers of the customers this user may see."""
    from integrations.wecom.models import ContactTransfer

    return ContactTransfer.objects.filter(customer__in=visible_customers(user).values("pk"))


def visible_operator_days(user):
    """Supervision's daily facts (OperatorDay) this user may see: own rows, the subtree's (by the branch path
    the row was computed under, one indexed prefix match), or the whole bank's."""
    from workbench.supervision.models import OperatorDay

    viewer = viewer_for(user)
    days = OperatorDay.objects.all()
    if viewer.scope == Scope.BANK:
        return days
    if viewer.scope == Scope.BRANCH:
        return days.filter(branch_path__startswith=viewer.branch_path)
    if viewer.scope == Scope.SELF:
        return days.filter(operator=viewer.operator)
    return days.none()


def get_visible_customer(user, pk) -> Customer:
    """The customer if the user may see it; 404 otherwise, so existence is not revealed."""
    try:
        return visible_customers(user).get(pk=pk)
    except (Customer.DoesNotExist, ValueError, TypeError):
        raise Http404("No such customer.") from None


def followed_customers(operator: Operator) -> QuerySet[Customer]:
    """The customers this operator follows in WeCom right now (a live follow): all the WeCom chat sidebar may show.
    Ownership alone does not count there: the sidebar sits beside a chat, and a chat needs the follow."""
    return Customer.objects.filter(follows__operator=operator, follows__deleted_at__isnull=True)


def get_visible_operator(user, pk) -> Operator:
    try:
        return visible_operators(user).get(pk=pk)
    except (Operator.DoesNotExist, ValueError, TypeError):
        raise Http404("No such operator.") from None


def may_view_pii(user) -> bool:
    return viewer_for(user).policy.may_view_pii


def may_export(user) -> bool:
    return viewer_for(user).policy.may_export


def may_view_audit(user) -> bool:
    return viewer_for(user).policy.may_view_audit


def may_use_admin(user) -> bool:
    return viewer_for(user).policy.may_use_admin


def may_manage_wecom(user) -> bool:
    return viewer_for(user).policy.may_manage_wecom


def may_transfer(user) -> bool:
    return viewer_for(user).policy.may_transfer


def may_manage_tags(user) -> bool:
    return viewer_for(user).policy.may_manage_tags


def may_manage_rules(user) -> bool:
    return viewer_for(user).policy.may_manage_rules


def may_import(user) -> bool:
    return viewer_for(user).policy.may_import


def may_author_content(user) -> bool:
    return viewer_for(user).policy.may_author_content


def may_review_content(user) -> bool:
    return viewer_for(user).policy.may_review_content


def may_manage_channels(user) -> bool:
    return viewer_for(user).policy.may_manage_channels


def may_manage_playbooks(user) -> bool:
    return viewer_for(user).policy.may_manage_playbooks


def may_manage_contact_policy(user) -> bool:
    return viewer_for(user).policy.may_manage_contact_policy


def may_manage_incentives(user) -> bool:
    return viewer_for(user).policy.may_manage_incentives


def has_access(user) -> bool:
    return viewer_for(user).scope != Scope.NONE
