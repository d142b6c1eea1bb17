from django.urls import path

from workbench.incentives import views

app_name = "incentives"

urlpatterns = [
    path("", views.leaderboard, name="leaderboard"),
    path("export/", views.leaderboard_export, name="leaderboard-export"),
    path("me/", views.my_card, name="my-card"),
    path("scores/<int:pk>/", views.score_detail, name="score"),
    path("schemes/", views.scheme_list, name="schemes"),
    path("schemes/new/", views.scheme_edit, name="scheme-new"),
    path("schemes/<int:pk>/", views.scheme_edit, name="scheme-edit"),
    path("schemes/<int:pk>/activate/", views.scheme_activate, name="scheme-activate"),
    path("schemes/<int:pk>/compute/", views.scheme_compute, name="scheme-compute"),
    path("runs/<int:pk>/", views.run_progress, name="run-progress"),
]
