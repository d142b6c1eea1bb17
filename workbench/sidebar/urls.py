from django.urls import path

from workbench.sidebar import views

app_name = "sidebar"

urlpatterns = [
    path("", views.page, name="page"),
    path("oauth/", views.oauth, name="oauth"),
    path("chat/", views.chat, name="chat"),
    path("customers/<int:pk>/", views.customer, name="customer"),
    path("customers/<int:pk>/tags", views.tags, name="tags"),
    path("customers/<int:pk>/tasks/<int:task_id>/done", views.task_done, name="task-done"),
    path("customers/<int:pk>/replies", views.replies, name="replies"),
    path("customers/<int:pk>/messages/prepare", views.prepare, name="prepare"),
    path("customers/<int:pk>/messages", views.record, name="record"),
]
