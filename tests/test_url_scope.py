"""Every URL of the project is either public or has a data-scope probe here.

The resolver is walked recursively; a route that is neither in PUBLIC nor in PROBES fails the suite, so a
new view cannot ship without someone deciding how its data scope is checked. Every probe also has a positive
control (a persona who may see the data does see it), so a probe cannot pass by showing nothing at all.
"""

from dataclasses import dataclass
from html import escape
from urllib.parse import quote, quote_plus

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils.regex_helper import normalize

from tests import (
    scope_probes_campaigns,
    scope_probes_delivery,
    scope_probes_home,
    scope_probes_incentives,
    scope_probes_playbooks,
    scope_probes_reports,
    scope_probes_segments,
    scope_probes_sidebar,
)
from workbench.exports.models import ExportJob
from workbench.exports.services import export_request, export_run

# --- walking the resolver ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    key: str  # "namespace:name", or the route text for an unnamed pattern
    namespace: str
    url: str  # a concrete URL with sample arguments


# Sample values for URL arguments; the anonymous check only needs a URL that resolves to the view.
_SAMPLES = {"app_label": "tagging", "url": "no-such-page/"}


def _concrete(pieces: list[str]) -> str:
    url = "/"
    for regex in pieces:
        template, params = normalize(regex)[0]
        url += template % {name: _SAMPLES.get(name, "1") for name in params}
    return url


def collect_routes() -> list[Route]:
    routes = []

    def walk(resolver, pieces, namespaces):
        for entry in resolver.url_patterns:
            regex = entry.pattern.regex.pattern
            if isinstance(entry, URLResolver):
                walk(entry, [*pieces, regex], [*namespaces, entry.namespace] if entry.namespace else namespaces)
            elif isinstance(entry, URLPattern):
                namespace = ":".join(namespaces)
                full = pieces + [regex]
                if entry.name:
                    key = f"{namespace}:{entry.name}" if namespace else entry.name
                else:
                    key = "".join(str(p) for p in full)
                routes.append(Route(key, namespace, _concrete(full)))

    walk(get_resolver(), [], [])
    return routes


ROUTES = collect_routes()

# Reachable without logging in. Each is exercised in test_public_routes.
PUBLIC = {"login", "logout", "set_language", "healthz", "api:token", "schema", "api-docs", "wecom_callbacks:callback"}
PUBLIC |= scope_probes_campaigns.PUBLIC  # the tracked-link redirect /l/<token>
PUBLIC |= scope_probes_sidebar.PUBLIC  # the WeCom chat sidebar: identity from WeCom's OAuth, probed all the same

# Django admin: whole-bank by design; only head-office admins may enter (test_admin_*).
ADMIN_NAMESPACE = "admin"


# --- probes --------------------------------------------------------------------------------------------------


@dataclass
class Ctx:
    bank: object
    login: object
    api_as: object

    @property
    def b_customer(self):
        return self.bank.customers["b_own"]


B_MARKERS = ("CB0000000001", "乙客户壹")  # branch B's own customer: number and name
B_BRANCH_NAMES = ("乙分行", "乙支行", "乙网点")
B_OPERATOR_NAMES = ("孙乙", "operator_b")

# Searches and filters that would match branch B's customer if scope were not applied first.
LIST_PARAMS = [
    {},
    {"q": "CB0000000001"},
    {"q": "乙客户壹"},
    {"q": "13987654321"},
    {"q": "139****4321"},
    {"q": "4321"},
    {"occupation_group": "retiree"},
    {"aum_min": "200000"},
    {"external_userid": "wmBOWN0001"},
    {"owner": "{operator_b}"},
    {"branch": "{branch_b}"},
    {"branch": "{outlet_b}", "q": "乙"},
]


HTMX_RESULTS = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "customer-results"}


def _params(ctx: Ctx, params: dict) -> dict:
    values = {
        "operator_b": ctx.bank.operators["operator_b"].pk,
        "branch_b": ctx.bank.branch_b.pk,
        "outlet_b": ctx.bank.outlet_b.pk,
    }
    return {key: value.format(**values) for key, value in params.items()}


def _text(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _assert_absent(response, markers, where, echoed=()):
    """No marker in the response. Values the request itself sent (a search box, the paging links keep the
    query) are removed first: echoing the visitor's own input reveals nothing."""
    body = _text(response)
    for value in sorted(map(str, echoed), key=len, reverse=True):
        for form in (value, quote(value), quote_plus(value), escape(value), escape(quote_plus(value))):
            body = body.replace(form, "")
    for marker in markers:
        assert marker not in body, f"{where}: {marker!r} leaked"


def _row_numbers(response) -> set[str]:
    return {customer.customer_no for customer in response.context["page"].rows}


def probe_customer_list(ctx: Ctx, name: str):
    for persona in ("operator_a", "lead_a", "manager_a"):
        client = ctx.login(persona)
        for params in LIST_PARAMS:
            for headers in ({}, HTMX_RESULTS):  # the full page and the htmx fragment that refreshes the rows
                query = _params(ctx, params)
                response = client.get(reverse(name), query, **headers)
                assert response.status_code == 200, (persona, params, response.status_code)
                assert "CB0000000001" not in _row_numbers(response)
                _assert_absent(response, B_MARKERS, f"{name} as {persona} with {params} {headers}", query.values())
    control = ctx.login("manager_b").get(reverse(name), {"q": "CB0000000001"})
    assert _row_numbers(control) == {"CB0000000001"}
    assert "乙客户壹" in _text(control)


def probe_api_customer_list(ctx: Ctx, name: str):
    for persona in ("operator_a", "lead_a", "manager_a"):
        client = ctx.api_as(persona)
        for params in LIST_PARAMS:
            query = _params(ctx, params)
            response = client.get(reverse(name), query)
            # Out-of-scope branch/owner ids are invalid choices (400); everything else answers 200.
            assert response.status_code in (200, 400), (persona, params, response.status_code)
            if response.status_code == 200:
                assert "CB0000000001" not in {row["customer_no"] for row in response.json()["results"]}
            _assert_absent(response, B_MARKERS, f"{name} as {persona} with {params}", query.values())
    control = ctx.api_as("manager_b").get(reverse(name), {"q": "CB0000000001"})
    assert [row["customer_no"] for row in control.json()["results"]] == ["CB0000000001"]


def probe_customer_object(method: str, *, api: bool = False):
    def probe(ctx: Ctx, name: str):
        url = reverse(name, args=[ctx.b_customer.pk])
        for persona in ("operator_a", "lead_a", "manager_a"):
            client = ctx.api_as(persona) if api else ctx.login(persona)
            response = getattr(client, method)(url)
            assert response.status_code == 404, (persona, response.status_code)
            _assert_absent(response, B_MARKERS, f"{name} as {persona}")
        control = ctx.api_as("manager_b") if api else ctx.login("manager_b")
        assert getattr(control, method)(url).status_code == 200

    return probe


def probe_home(ctx: Ctx, name: str):
    response = ctx.login("operator_a").get(reverse(name))
    assert response.status_code == 200
    assert response.context["summary"]["total"] == 3  # a_own, a_followed, b_shared
    _assert_absent(response, B_MARKERS, name)
    response = ctx.login("manager_a").get(reverse(name))
    assert response.context["summary"]["total"] == 4
    control = ctx.login("admin").get(reverse(name))
    assert control.context["summary"]["total"] == len(ctx.bank.customers)


def probe_branch_list(ctx: Ctx, name: str, *, api: bool = False):
    for persona in ("operator_a", "lead_a", "manager_a"):
        client = ctx.api_as(persona) if api else ctx.login(persona)
        response = client.get(reverse(name))
        assert response.status_code == 200
        _assert_absent(response, B_BRANCH_NAMES, f"{name} as {persona}")
    control = (ctx.api_as("manager_b") if api else ctx.login("manager_b")).get(reverse(name))
    assert "乙网点" in _text(control)


def probe_operator_list(ctx: Ctx, name: str, *, api: bool = False):
    for persona in ("operator_a", "lead_a", "manager_a"):
        client = ctx.api_as(persona) if api else ctx.login(persona)
        for params in ({}, {"branch": ctx.bank.branch_b.pk}, {"status": "active"}):
            response = client.get(reverse(name), params)
            assert response.status_code == 200
            _assert_absent(response, B_OPERATOR_NAMES, f"{name} as {persona} with {params}", params.values())
    control = (ctx.api_as("manager_b") if api else ctx.login("manager_b")).get(reverse(name))
    assert "孙乙" in _text(control)


def probe_operator_object(ctx: Ctx, name: str):
    url = reverse(name, args=[ctx.bank.operators["operator_b"].pk])
    for persona in ("operator_a", "lead_a", "manager_a"):
        assert ctx.login(persona).get(url).status_code == 404
    assert ctx.login("manager_b").get(url).status_code == 200


def _export_of_manager_b(ctx: Ctx) -> ExportJob:
    job = export_request(user=ctx.bank.user("manager_b"), kind="customers", file_format="csv", params={})
    return export_run(job_id=job.pk)


def probe_export_list(ctx: Ctx, name: str):
    job = _export_of_manager_b(ctx)
    for persona in ("operator_a", "lead_a", "manager_a", "admin"):
        response = ctx.login(persona).get(reverse(name))
        assert response.status_code == 200
        assert job not in list(response.context["jobs"])
        _assert_absent(response, (job.file_name,), f"{name} as {persona}")
    control = ctx.login("manager_b").get(reverse(name))
    assert job in list(control.context["jobs"])


def probe_export_object(ctx: Ctx, name: str):
    job = _export_of_manager_b(ctx)
    url = reverse(name, args=[job.pk])
    for persona in ("operator_a", "lead_a", "manager_a", "admin"):
        response = ctx.login(persona).get(url)
        assert response.status_code == 404, (persona, response.status_code)
        _assert_absent(response, B_MARKERS, f"{name} as {persona}")
    assert ctx.login("manager_b").get(url).status_code == 200


def probe_customer_export(ctx: Ctx, name: str):
    assert ctx.login("operator_a").post(reverse(name), {"format": "csv"}).status_code == 403
    for persona in ("lead_a", "manager_a"):
        for params in LIST_PARAMS:
            before = set(ExportJob.objects.values_list("pk", flat=True))
            response = ctx.login(persona).post(reverse(name), {"format": "csv", **_params(ctx, params)})
            assert response.status_code == 302
            (job_pk,) = set(ExportJob.objects.values_list("pk", flat=True)) - before
            job = export_run(job_id=job_pk)
            assert job.requested_by == ctx.bank.user(persona)
            from workbench.exports.services import export_path

            _assert_absent_file = export_path(job).read_text(encoding="utf-8-sig")
            for marker in B_MARKERS:
                assert marker not in _assert_absent_file, (persona, params)
    ctx.login("manager_b").post(reverse(name), {"format": "csv"})
    control = export_run(job_id=ExportJob.objects.latest("pk").pk)
    from workbench.exports.services import export_path

    assert "CB0000000001" in export_path(control).read_text(encoding="utf-8-sig")


def probe_audit_list(ctx: Ctx, name: str):
    # Whole-bank by design, so the scope is the gate itself: only audit roles get in.
    for persona in ("operator_a", "lead_a", "manager_a", "nobody"):
        assert ctx.login(persona).get(reverse(name)).status_code == 403
    assert ctx.login("reviewer").get(reverse(name)).status_code == 200


def probe_wecom_admin_gate(method: str, *, args=None):
    """WeCom administration is whole-bank by design: the gate is the scope. Only head-office admins enter."""

    def probe(ctx: Ctx, name: str):
        url = reverse(name, args=args(ctx) if args else None)
        for persona in ("operator_a", "lead_a", "manager_a", "reviewer", "nobody"):
            assert getattr(ctx.login(persona), method)(url).status_code == 403, persona
        assert getattr(ctx.login("admin"), method)(url).status_code in (200, 302)

    return probe


def _sync_run_pk(ctx: Ctx) -> list[int]:
    from integrations.wecom.models import SyncRun

    return [SyncRun.objects.create(kind=SyncRun.Kind.FULL, status=SyncRun.Status.SUCCEEDED).pk]


def _unmatched_contact_pk(ctx: Ctx) -> list[int]:
    from tests.factories import CustomerFactory

    return [CustomerFactory(customer_no=None, external_userid="wmUNMATCHED", owner=ctx.bank.operators["operator_b"]).pk]


def probe_transfers(ctx: Ctx, name: str):
    from integrations.wecom.models import ContactTransfer

    ops = ctx.bank.operators
    ContactTransfer.objects.create(
        kind=ContactTransfer.Kind.ON_THE_JOB,
        customer=ctx.b_customer,
        external_userid="wmBOWN0001",
        handover=ops["operator_b"],
        takeover=ops["manager_b"],
        status=ContactTransfer.Status.WAITING,
    )
    for persona in ("operator_a", "lead_a", "reviewer"):
        assert ctx.login(persona).get(reverse(name)).status_code == 403, persona
    response = ctx.login("manager_a").get(reverse(name))
    assert response.status_code == 200
    _assert_absent(response, B_MARKERS + B_OPERATOR_NAMES, f"{name} as manager_a")
    posted = ctx.login("manager_a").post(
        reverse(name), {"handover": ops["operator_b"].pk, "takeover": ops["operator_a"].pk}
    )
    assert posted.status_code == 200 and "handover" in posted.context["form"].errors
    assert ContactTransfer.objects.count() == 1
    control = ctx.login("manager_b").get(reverse(name))
    assert "乙客户壹" in _text(control)


def _tag_on(ctx: Ctx, *customers):
    """A manual tag (a corp tag already) on these customers."""
    from tagging.models import Tag, TagGroup
    from tagging.tags.services import tag_add

    group, _ = TagGroup.objects.get_or_create(name="探针分组")
    tag, _ = Tag.objects.get_or_create(group=group, name="探针标签", defaults={"wecom_tag_id": "etPROBE"})
    if customers:
        tag_add(customers, tag, source="manual")
    return tag


def probe_tag_library(ctx: Ctx, name: str):
    tag = _tag_on(ctx, ctx.b_customer, ctx.bank.customers["a_own"])

    def count(persona: str) -> int:
        response = ctx.login(persona).get(reverse(name))
        assert response.status_code == 200, persona
        _assert_absent(response, B_MARKERS, f"{name} as {persona}")
        return {t.pk: n for entry in response.context["groups"] for t, n in entry.tags}[tag.pk]

    for persona in ("operator_a", "lead_a", "manager_a"):
        assert count(persona) == 1, persona  # a_own only: b_own is not counted
    assert count("manager_b") == 1 and count("admin") == 2


def probe_customer_tags(ctx: Ctx, name: str):
    """The tags card and tagging by hand: branch A can neither see nor tag branch B's customer."""
    from tagging.models import CustomerTag

    tag = _tag_on(ctx)
    url = reverse(name, args=[ctx.b_customer.pk])
    for persona in ("operator_a", "lead_a", "manager_a"):
        client = ctx.login(persona)
        assert client.get(url).status_code == 404, persona
        for op in ("add", "remove", "pin", "unpin"):
            response = client.post(url, {"op": op, "tag": tag.pk}, HTTP_HX_REQUEST="true")
            assert response.status_code == 404, (persona, op)
            _assert_absent(response, B_MARKERS, f"{name} {op} as {persona}")
    assert not CustomerTag.objects.filter(customer=ctx.b_customer).exists()
    control = ctx.login("manager_b")
    assert control.post(url, {"op": "add", "tag": tag.pk}, HTTP_HX_REQUEST="true").status_code == 200
    assert "探针标签" in _text(control.get(url))
    assert CustomerTag.objects.filter(customer=ctx.b_customer, tag=tag).exists()


def probe_bulk_tags(ctx: Ctx, name: str):
    """Tagging every customer matching the list's filters never reaches beyond the requester's scope."""
    from tagging.models import CustomerTag

    tag = _tag_on(ctx)
    for persona in ("operator_a", "lead_a", "manager_a"):
        for params in LIST_PARAMS:
            response = ctx.login(persona).post(
                reverse(name), {"tag": tag.pk, "action": "add", **_params(ctx, params)}, HTTP_HX_REQUEST="true"
            )
            assert response.status_code == 200, (persona, params)
            assert not CustomerTag.objects.filter(customer=ctx.b_customer).exists(), (persona, params)
    control = ctx.login("manager_b").post(
        reverse(name), {"tag": tag.pk, "action": "add", "q": "CB0000000001"}, HTTP_HX_REQUEST="true"
    )
    assert control.context["job"].changed == 1
    assert CustomerTag.objects.filter(customer=ctx.b_customer, tag=tag).exists()


def probe_bulk_job(ctx: Ctx, name: str):
    from tagging.tags.bulk import bulk_tag_request

    job = bulk_tag_request(user=ctx.bank.user("manager_b"), tag=_tag_on(ctx), action="add", params={})
    url = reverse(name, args=[job.pk])
    for persona in ("operator_a", "lead_a", "manager_a", "admin"):
        assert ctx.login(persona).get(url).status_code == 404, persona
    assert ctx.login("manager_b").get(url).status_code == 200


def _tag_group_pk(ctx: Ctx) -> list[int]:
    from tagging.models import TagGroup

    return [TagGroup.objects.create(name="空分组").pk]


def _tag_pk(ctx: Ctx) -> list[int]:
    return [_tag_on(ctx).pk]


def _unused_tag_pk(ctx: Ctx) -> list[int]:
    from tagging.models import Tag, TagGroup

    group, _ = TagGroup.objects.get_or_create(name="探针分组")
    return [Tag.objects.create(group=group, name="未用标签").pk]


def probe_tags_admin_gate(method: str, *, args=None):
    """Managing the tag library and its WeCom outbox is whole-bank by design: only head-office admins enter."""

    def probe(ctx: Ctx, name: str):
        url = reverse(name, args=args(ctx) if args else None)
        for persona in ("operator_a", "lead_a", "manager_a", "reviewer", "nobody"):
            assert getattr(ctx.login(persona), method)(url).status_code == 403, persona
        assert getattr(ctx.login("admin"), method)(url).status_code in (200, 302)

    return probe


def _import_with_report(ctx: Ctx, *, failed: bool = False) -> list[int]:
    """A head-office import with one rejected row: its error report names branch B's customer."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from integrations.bank.models import ImportJob
    from integrations.bank.services import import_create, import_run

    content = "客户号,姓名,手机号\nCB0000000001,乙客户壹,139876\n".encode()
    job = import_create(user=ctx.bank.user("admin"), kind="customers", upload=SimpleUploadedFile("乙.csv", content))
    if failed:  # as if the database had been down: nothing applied, the upload kept for 继续
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED)
    else:
        import_run(job_id=job.pk)
    return [job.pk]


def probe_import_gate(method: str, *, args=None, api: bool = False, shows: str | None = None):
    """Imports are whole-bank by design (files and reports name customers of every branch): the gate is the
    scope. Only roles that may import enter — not even a manager of the branch whose customers are named."""

    def probe(ctx: Ctx, name: str):
        url = reverse(name, args=args(ctx) if args else None)
        for persona in ("operator_a", "lead_a", "manager_a", "manager_b", "reviewer", "nobody"):
            client = ctx.api_as(persona) if api else ctx.login(persona)
            response = getattr(client, method)(url)
            assert response.status_code == 403, (persona, response.status_code)
            _assert_absent(response, B_MARKERS, f"{name} as {persona}")
        response = getattr(ctx.api_as("admin") if api else ctx.login("admin"), method)(url)
        assert response.status_code in (200, 302), response.status_code
        if shows:
            assert shows in _text(response).lstrip("\ufeff")

    return probe


PROBES = {
    "home": probe_home,
    "wecom:overview": probe_wecom_admin_gate("get"),
    "wecom:sync-start": probe_wecom_admin_gate("post"),
    "wecom:sync-progress": probe_wecom_admin_gate("get", args=_sync_run_pk),
    "wecom:unmatched": probe_wecom_admin_gate("get"),
    "wecom:unmatched-link": probe_wecom_admin_gate("post", args=_unmatched_contact_pk),
    "wecom:transfers": probe_transfers,
    "customers:list": probe_customer_list,
    "customers:detail": probe_customer_object("get"),
    "customers:reveal_pii": probe_customer_object("post"),
    "customers:export": probe_customer_export,
    "org:branches": probe_branch_list,
    "org:operators": probe_operator_list,
    "org:operator": probe_operator_object,
    "exports:list": probe_export_list,
    "exports:progress": probe_export_object,
    "exports:download": probe_export_object,
    "audit:list": probe_audit_list,
    "api:customer-list": probe_api_customer_list,
    "api:customer-detail": probe_customer_object("get", api=True),
    "api:customer-pii": probe_customer_object("get", api=True),
    "api:branch-list": lambda ctx, name: probe_branch_list(ctx, name, api=True),
    "api:operator-list": lambda ctx, name: probe_operator_list(ctx, name, api=True),
    "tags:library": probe_tag_library,
    "tags:customer": probe_customer_tags,
    "tags:bulk": probe_bulk_tags,
    "tags:job-progress": probe_bulk_job,
    "tags:group-new": probe_tags_admin_gate("get"),
    "tags:group-edit": probe_tags_admin_gate("get", args=_tag_group_pk),
    "tags:group-delete": probe_tags_admin_gate("post", args=_tag_group_pk),
    "tags:tag-new": probe_tags_admin_gate("get"),
    "tags:tag-edit": probe_tags_admin_gate("get", args=_tag_pk),
    "tags:tag-delete": probe_tags_admin_gate("post", args=_unused_tag_pk),
    "tags:outbox": probe_tags_admin_gate("get"),
    "tags:outbox-retry": probe_tags_admin_gate("post"),
    "imports:list": probe_import_gate("get"),
    "imports:progress": probe_import_gate("get", args=_import_with_report, shows="乙.csv"),
    "imports:errors": probe_import_gate("get", args=_import_with_report, shows="CB0000000001"),
    "imports:resume": probe_import_gate("post", args=lambda ctx: _import_with_report(ctx, failed=True)),
    "imports:sample": probe_import_gate("get", args=lambda ctx: ["customers.csv"], shows="客户号"),
    "api:import-list": probe_import_gate("get", api=True),
    "api:import-detail": probe_import_gate("get", args=_import_with_report, api=True, shows="乙.csv"),
    "api:import-errors": probe_import_gate("get", args=_import_with_report, api=True, shows="CB0000000001"),
    **scope_probes_campaigns.PROBES,  # content library, channel codes, channel report
    **scope_probes_delivery.PROBES,  # operator tasks, mass sends, contact policy, do-not-disturb
    **scope_probes_segments.PROBES,  # segments and rule tags
    **scope_probes_playbooks.PROBES,  # playbooks: builder, lifecycle, monitor
    **scope_probes_home.PROBES,  # the customer 360 page's actions: note, task, playbook enrolment
    **scope_probes_reports.PROBES,  # performance dashboards, their Excel export, the send-now button
    **scope_probes_incentives.PROBES,  # incentive schemes, leaderboards, score cards, the leaderboard export
    **scope_probes_sidebar.PROBES,  # the chat sidebar (live follows only) and the quick-reply page
}


# --- the tests -----------------------------------------------------------------------------------------------


def test_every_route_is_public_or_probed():
    keys = {route.key for route in ROUTES if route.namespace.split(":")[0] != ADMIN_NAMESPACE}
    unchecked = keys - PUBLIC - set(PROBES)
    assert not unchecked, (
        f"Routes without a data-scope probe: {sorted(unchecked)}. Add each to PROBES in {__file__} "
        "(or to PUBLIC if it shows no data)."
    )
    stale = (PUBLIC | set(PROBES)) - keys
    assert not stale, f"PUBLIC/PROBES name routes that no longer exist: {sorted(stale)}"


def test_every_route_resolves_from_its_sample_url():
    for route in ROUTES:
        match = resolve(route.url)
        if ":" in route.key and route.key.split(":")[-1]:
            assert match.view_name == route.key, (route, match.view_name)


@pytest.mark.parametrize("key", sorted(PROBES))
def test_scope_probe(bank, login, api_as, export_root, import_root, key):
    PROBES[key](Ctx(bank, login, api_as), key)


@pytest.mark.parametrize(
    "route",
    [r for r in ROUTES if r.key not in PUBLIC and r.namespace.split(":")[0] != ADMIN_NAMESPACE],
    ids=lambda r: r.key,
)
def test_anonymous_is_sent_to_login(db, route):
    response = Client().get(route.url)
    if route.namespace.split(":")[0] == "api":
        assert response.status_code == 401, (route, response.status_code)
        assert response.json()["error"]["code"] == "not_authenticated"
    else:
        assert response.status_code == 302, (route, response.status_code)
        assert response["Location"].startswith(f"{reverse(settings.LOGIN_URL)}?next="), response["Location"]


@pytest.mark.parametrize(
    "route",
    [r for r in ROUTES if r.key not in PUBLIC and r.namespace.split(":")[0] != ADMIN_NAMESPACE],
    ids=lambda r: r.key,
)
@pytest.mark.parametrize("persona", ["nobody", "resigned"])
def test_logins_without_access_get_nothing(bank, login, api_as, route, persona):
    """A login with no operator profile (or a resigned one) is refused everywhere: 403, 401, or no rows."""
    if route.namespace.split(":")[0] == "api":
        if persona == "resigned":
            return  # an inactive login cannot hold a working token: covered in test_api
        response = api_as(persona).get(route.url)
        assert response.status_code in (200, 403, 404), (route, response.status_code)
        if response.status_code == 200:
            body = response.json()
            rows = body["results"] if isinstance(body, dict) else body
            assert rows == [], route
        return
    response = login(persona).get(route.url)
    if persona == "resigned":  # inactive: force_login does not stick, so it is anonymous
        assert response.status_code == 302, (route, response.status_code)
    else:
        assert response.status_code in (403, 405), (route, response.status_code)


def test_public_routes(bank):
    client = Client()
    assert client.get(reverse("login")).status_code == 200
    assert client.get(reverse("healthz")).json() == {"status": "ok"}
    assert client.get(reverse("schema")).status_code == 200
    assert client.get(reverse("api-docs")).status_code == 200
    assert client.post(reverse("set_language"), {"language": "en", "next": "/"}).status_code == 302
    assert client.post(reverse("logout")).status_code == 302
    assert client.post(reverse("api:token"), {"username": "x", "password": "y"}).status_code == 401
    assert client.get(reverse("links:redirect", args=["no-such-token"])).status_code == 404


ADMIN_ROUTES = [r for r in ROUTES if r.namespace.split(":")[0] == ADMIN_NAMESPACE and r.key != "admin:login"]


def test_admin_refuses_everyone_but_head_office_admins(bank, login):
    assert len(ADMIN_ROUTES) > 20  # every model's admin pages, not just the index
    # Even with is_staff set, a role without admin rights is sent to the admin login.
    for persona in ("manager_a", "reviewer", "nobody"):
        user = bank.user(persona)
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    clients = {"anonymous": Client()} | {
        p: login(p) for p in ("operator_a", "lead_a", "manager_a", "reviewer", "nobody")
    }
    for route in ADMIN_ROUTES:
        # The admin's logout sends a visitor without admin rights to the admin index, which then asks to log in.
        expected = reverse("admin:index") if route.key == "admin:logout" else reverse("admin:login")
        for who, client in clients.items():
            response = client.get(route.url)
            assert response.status_code == 302, (route, who, response.status_code)
            assert response["Location"].startswith(expected), (route, who, response["Location"])


def test_admin_lets_head_office_admins_in(bank, login):
    assert login("admin").get(reverse("admin:index")).status_code == 200
    assert login("superuser").get(reverse("admin:index")).status_code == 200
