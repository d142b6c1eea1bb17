from django.urls import path

from campaigns.links import views

app_name = "links"

urlpatterns = [
    path("<str:token>", views.redirect, name="redirect"),
]
