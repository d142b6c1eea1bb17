from django.urls import path

from workbench.org import views

app_name = "org"

urlpatterns = [
    path("", views.branch_tree, name="branches"),
    path("operators/", views.operator_list, name="operators"),
    path("operators/<int:pk>/", views.operator_page, name="operator"),
]
