from workbench.org.scope import viewer_for
from workbench.web.navigation import admin_link_visible, items_for


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    viewer = viewer_for(user)
    return {
        "nav_items": items_for(user),
        "nav_admin": admin_link_visible(user),
        "viewer": viewer,
        "current_section": getattr(request, "workbench_section", ""),
    }
