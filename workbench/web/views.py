from django.contrib.auth import views as auth_views
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from workbench.org.scope import viewer_for
from workbench.web.access import staff_required
from workbench.web.selectors import home_summary


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


@staff_required
def home(request):
    request.workbench_section = "home"
    return render(request, "web/home.html", {**home_summary(request.user), "viewer": viewer_for(request.user)})


@never_cache
def healthz(request):
    """Liveness for the process manager and load balancer: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
