from django.db.models import Count, Q
from django.shortcuts import render

from workbench.org.scope import get_visible_operator, visible_branches, visible_operators
from workbench.web.access import staff_required


@staff_required
def branch_tree(request):
    request.workbench_section = "org"
    branches = visible_branches(request.user).annotate(
        active_operators=Count("operators", filter=Q(operators__status="active"))
    )
    return render(request, "org/branch_tree.html", {"branches": branches})


@staff_required
def operator_list(request):
    request.workbench_section = "org"
    operators = visible_operators(request.user).select_related("branch")
    branch = request.GET.get("branch")
    if branch and branch.isdigit():
        subtree = visible_branches(request.user).filter(pk=int(branch)).values_list("path", flat=True).first()
        operators = operators.filter(branch__path__startswith=subtree) if subtree else operators.none()
    status = request.GET.get("status")
    if status in {"active", "resigned"}:
        operators = operators.filter(status=status)
    operators = operators.annotate(customer_count=Count("owned_customers"))
    return render(request, "org/operator_list.html", {"operators": operators[:500]})


@staff_required
def operator_page(request, pk):
    request.workbench_section = "org"
    operator = get_visible_operator(request.user, pk)
    return render(
        request,
        "org/operator_detail.html",
        {"operator": operator, "customer_count": operator.owned_customers.count()},
    )
