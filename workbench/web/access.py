"""View decorators: who may open a page at all. What they then see is the scope selector's job."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from workbench.org.scope import (
    has_access,
    may_author_content,
    may_export,
    may_import,
    may_manage_channels,
    may_manage_playbooks,
    may_manage_rules,
    may_manage_tags,
    may_manage_wecom,
    may_review_content,
    may_transfer,
    may_view_audit,
)


def _requires(check):
    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


staff_required = _requires(has_access)
export_required = _requires(may_export)
audit_required = _requires(may_view_audit)
wecom_admin_required = _requires(may_manage_wecom)
transfer_required = _requires(may_transfer)
tags_admin_required = _requires(may_manage_tags)
rules_admin_required = _requires(may_manage_rules)
import_required = _requires(may_import)
author_required = _requires(may_author_content)
reviewer_required = _requires(may_review_content)
channels_admin_required = _requires(may_manage_channels)
playbooks_admin_required = _requires(may_manage_playbooks)
