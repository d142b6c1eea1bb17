from django.urls import include, path

from tagging import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="list"),
    path("export/", views.customer_export, name="export"),
    path("<int:pk>/", views.customer_page, name="detail"),
    path("<int:pk>/pii/", views.customer_reveal_pii, name="reveal_pii"),
    path("<int:pk>/", include("tagging.customer_urls")),  # the customer 360 page's actions
]
