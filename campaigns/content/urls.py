from django.urls import path

from campaigns.content import views, views_quick_replies

app_name = "content"

urlpatterns = [
    path("", views.content_list, name="list"),
    path("new", views.content_create, name="create"),
    path("preview", views.content_preview, name="preview"),
    path("<int:pk>/", views.content_detail, name="detail"),
    path("<int:pk>/edit", views.content_edit, name="edit"),
    path("<int:pk>/submit", views.content_submit, name="submit"),
    path("<int:pk>/attachments", views.attachment_add, name="attachment-add"),
    path("<int:pk>/attachments/<int:index>/remove", views.attachment_remove, name="attachment-remove"),
    path("files/<int:pk>", views.asset, name="asset"),
    path("review/", views.review_queue, name="review-queue"),
    path("review/<int:pk>", views.review, name="review"),
    path("sensitive-words/", views.sensitive_words, name="sensitive-words"),
    path("quick-replies/", views_quick_replies.quick_reply_list, name="quick-replies"),
]
