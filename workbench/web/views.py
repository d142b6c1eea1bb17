from django.contrib.auth import views as auth_views
from django.db import connection
from django.db.models import Count, Sum
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from tagging.models import FollowRelationship
from workbench.org.scope import viewer_for, visible_customers, visible_operators
from workbench.web.access import staff_required


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


@staff_required
def home(request):
    request.workbench_section = "home"
    viewer = viewer_for(request.user)
    customers = visible_customers(request.user)
    week_ago = timezone.now() - timezone.timedelta(days=7)
    summary = customers.aggregate(total=Count("pk"), aum=Sum("aum"))
    by_group = list(customers.values("occupation_group").annotate(n=Count("pk")).order_by("-n"))
    new_follows = FollowRelationship.objects.filter(customer__in=customers.values("pk"), added_at__gte=week_ago)
    context = {
        "summary": summary,
        "by_group": by_group,
        "new_this_week": new_follows.filter(deleted_at__isnull=True).count(),
        "lost_this_week": FollowRelationship.objects.filter(
            customer__in=customers.values("pk"), deleted_at__gte=week_ago
        ).count(),
        "operators": visible_operators(request.user).filter(status="active").count(),
        "viewer": viewer,
    }
    return render(request, "web/home.html", context)


@never_cache
def healthz(request):
    """Liveness for the process manager and load balancer: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
