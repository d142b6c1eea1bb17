from django.contrib.auth import views as auth_views
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from campaigns.delivery.models import OperatorTask
from workbench.incentives.selectors import home_card
from workbench.org.roles import Role
from workbench.org.scope import viewer_for
from workbench.web.access import staff_required
from workbench.web.selectors import home_summary
from workbench.web.today import operator_today


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


@staff_required
def home(request):
    """An operator's day at a glance; every other role keeps the scope summary, plus their own tasks if any."""
    request.workbench_section = "home"
    viewer = viewer_for(request.user)
    context = {**home_summary(request.user), "viewer": viewer}
    if viewer.operator is not None:
        is_operator = viewer.operator.role == Role.OPERATOR
        context["today"] = operator_today(request.user, viewer.operator, attention=is_operator)
        context["outcomes"] = OperatorTask.Outcome.choices
        context["is_operator"] = is_operator
        if is_operator:
            context["score_card"] = home_card(viewer.operator)
    return render(request, "web/home.html", context)


@never_cache
def healthz(request):
    """Liveness for the process manager and load balancer: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
