from django.urls import path

from campaigns.delivery import views

app_name = "delivery"

urlpatterns = [
    path("tasks/today/", views.tasks_today, name="tasks-today"),
    path("tasks/<int:pk>/done/", views.task_done, name="task-done"),
    path("tasks/<int:pk>/postpone/", views.task_postpone, name="task-postpone"),
    path("deliveries/", views.sources, name="sources"),
    path("deliveries/<slug:source_kind>/<int:source_id>/", views.source, name="source"),
    path("deliveries/<slug:source_kind>/<int:source_id>/funnel/", views.source_funnel, name="source-funnel"),
    path("contact-policy/", views.policy_edit, name="policy"),
    path("contact-preferences/<int:customer_id>/", views.customer_dnd, name="customer-dnd"),
]
