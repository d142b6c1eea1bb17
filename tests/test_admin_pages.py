"""Every model registered in the Django admin lists for a superuser: a broken list_display or filter shows here."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse


@pytest.mark.django_db
def test_every_admin_changelist_renders(bank, login):
    get_user_model().objects.filter(username="admin").update(is_staff=True, is_superuser=True)
    client = login("admin")
    broken = []
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        if (status := client.get(url).status_code) != 200:
            broken.append((url, status))
    assert not broken
