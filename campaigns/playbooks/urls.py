from django.urls import path

from campaigns.playbooks import views

app_name = "playbooks"

urlpatterns = [
    path("", views.playbook_list, name="list"),
    path("new/", views.playbook_create, name="create"),
    path("builder/", views.builder_redraw, name="builder"),
    path("<int:pk>/", views.playbook_edit, name="edit"),
    path("<int:pk>/draft/", views.playbook_new_draft, name="new-draft"),
    path("<int:pk>/pause/", views.playbook_pause, name="pause"),
    path("<int:pk>/resume/", views.playbook_resume, name="resume"),
    path("<int:pk>/archive/", views.playbook_archive, name="archive"),
    path("<int:pk>/discard/", views.playbook_discard, name="discard"),
    path("<int:pk>/monitor/", views.playbook_monitor, name="monitor"),
]
