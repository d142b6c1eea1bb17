from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from workbench.web import views as web_views

urlpatterns = [
    path("", web_views.home, name="home"),
    path("accounts/login/", web_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", web_views.auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", web_views.healthz, name="healthz"),
    path("customers/", include("tagging.urls")),
    path("tags/", include("tagging.tags.urls")),
    path("segments/", include("tagging.segments.urls")),
    path("org/", include("workbench.org.urls")),
    path("exports/", include("workbench.exports.urls")),
    path("reports/", include("workbench.reports.urls")),
    path("audit/", include("workbench.audit.urls")),
    path("incentives/", include("workbench.incentives.urls")),
    path("content/", include("campaigns.content.urls")),
    path("channels/", include("campaigns.channels.urls")),
    path("playbooks/", include("campaigns.playbooks.urls")),
    # tasks/today/, deliveries/, contact-policy/, contact-preferences/<id>/ (the delivery engine's pages)
    path("", include("campaigns.delivery.urls")),
    path("l/", include("campaigns.links.urls")),
    path("wecom/callback/", include("integrations.wecom.callbacks.urls")),
    path("wecom/", include("integrations.wecom.urls")),
    path("imports/", include("integrations.bank.urls")),
    path("sidebar/", include("workbench.sidebar.urls")),
    path("api/v1/", include("workbench.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]
