"""Who is using the sidebar: a WeCom member, named by WeCom's web OAuth, never by anything the page sends.

WeCom opens the sidebar inside its client; `/sidebar/` without a sidebar identity sends the browser to WeCom's
OAuth page (silent, snsapi_base), which comes back to `/sidebar/oauth/` with a code; `auth/getuserinfo` turns the
code into the member's userid, and the active operator with that WeCom userid becomes the session's sidebar
operator. Every opening of the page goes through OAuth again (silent and quick inside the WeCom client): the
sidebar's identity is always the member signed into the client now, even when a device or browser changes hands.
The identity lives under its own session keys: it does not log anybody into the workbench (operators
synced from WeCom may have no password at all), and a workbench login does not open the sidebar.
"""

import secrets

from django.utils import timezone

from workbench.org.models import Operator

SESSION_OPERATOR = "sidebar_operator_id"
SESSION_SIGNED_IN_AT = "sidebar_signed_in_at"
SESSION_OAUTH_STATE = "sidebar_oauth_state"
SESSION_PAGE_GRANT = "sidebar_page_grant"  # one rendering of the page, granted by the OAuth round trip just made


def oauth_state(session) -> str:
    """A one-time value for the OAuth round trip, so that nobody can sign a browser in with their own code."""
    state = secrets.token_urlsafe(16)
    session[SESSION_OAUTH_STATE] = state
    return state


def take_oauth_state(session) -> str:
    return session.pop(SESSION_OAUTH_STATE, "")


def operator_for_userid(userid: str) -> Operator | None:
    if not userid:
        return None
    return (
        Operator.objects.select_related("branch", "user")
        .filter(wecom_userid=userid, status=Operator.Status.ACTIVE)
        .first()
    )


def sign_in(request, operator: Operator) -> None:
    request.session.cycle_key()  # a new session id: a session id known before the sign-in is worthless after it
    request.session[SESSION_OPERATOR] = operator.pk
    request.session[SESSION_SIGNED_IN_AT] = timezone.now().isoformat()
    request.session[SESSION_PAGE_GRANT] = True


def sign_out(session) -> None:
    """Nobody is the sidebar's operator any more (a round trip through WeCom's OAuth that did not end well)."""
    for key in (SESSION_OPERATOR, SESSION_SIGNED_IN_AT, SESSION_PAGE_GRANT):
        session.pop(key, None)


def take_page_grant(session) -> bool:
    return bool(session.pop(SESSION_PAGE_GRANT, False))


def current_operator(request) -> Operator | None:
    """The session's sidebar operator while they are still an active member; None otherwise."""
    operator_id = request.session.get(SESSION_OPERATOR)
    if not operator_id:
        return None
    operator = (
        Operator.objects.select_related("branch", "user")
        .filter(pk=operator_id, status=Operator.Status.ACTIVE, wecom_userid__isnull=False)
        .first()
    )
    if operator is None:
        request.session.pop(SESSION_OPERATOR, None)
    return operator
