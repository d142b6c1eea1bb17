"""The foundation benchmark: build the demo bank, then time the customer list as people use it.

Metrics (targets from issue 2):

- `seed_s`: `seed_demo --reset` with N customers and about one operator per 400 of them (target < 180 s);
- `customer_list_first_page_p95_ms`: /customers/ as `admin`, the whole bank, the worst case (target < 300);
- `customer_list_filtered_p95_ms`: /customers/ as `admin` cycling through the filters people use (target < 300);
- the same two for `manager` (branch scope) and `operator` (self scope), and the API list (/api/v1/customers/).

Every request goes through the Django test client (middleware, session, scope selector, filters, template
or serializer), logged in with `force_login`; p95 is over 30 timed requests after 3 warm-ups.
"""

import io
import json
import time
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from bench import emit, log, p95
from tagging.models import Customer
from workbench.org.models import Branch
from workbench.org.scope import visible_branches, visible_customers

BENCH = "foundation"
WARMUPS = 3
SAMPLES = 30


def seed(customers: int) -> float:
    operators = max(50, round(customers / 400))
    log(f"seed_demo --reset --customers {customers} --operators {operators}")
    out = io.StringIO()
    started = time.perf_counter()
    call_command("seed_demo", customers=customers, operators=operators, reset=True, stdout=out)
    seconds = time.perf_counter() - started
    log(f"  {out.getvalue().strip().splitlines()[-1]}")
    return seconds


def filter_combinations(user, customers: int) -> list[dict]:
    """Realistic filters, each with values this user may use."""
    operator = getattr(user, "operator", None)
    branches = visible_branches(user)
    branch = (branches.filter(level=Branch.Level.SUB_BRANCH).order_by("pk").first()) or branches.order_by("pk").first()
    visible = visible_customers(user).order_by("-pk")
    sample = list(visible.values_list("owner_id", "mobile_last4")[200:201])
    owner_id, last4 = sample[0] if sample else (operator.pk, "0000")
    deep = list(visible.filter(pk__lte=customers // 2).values_list("pk", flat=True)[:1])
    return [
        {"occupation_group": "white_collar", "aum_min": "50000", "aum_max": "500000"},
        {"branch": str(branch.pk)},
        {"owner": str(owner_id)},
        {"q": "张"},
        {"q": last4},
        {"after": str(deep[0] if deep else customers // 2)},
        {"occupation_group": "retiree", "aum_min": "100000"},
    ]


def timed_p95(get: Callable[[dict], object], params_cycle: list[dict]) -> float:
    for index in range(WARMUPS):
        get(params_cycle[index % len(params_cycle)])
    samples = []
    for index in range(SAMPLES):
        params = params_cycle[index % len(params_cycle)]
        started = time.perf_counter()
        get(params)
        samples.append(((time.perf_counter() - started) * 1000, params))
    slowest, slowest_params = max(samples, key=lambda sample: sample[0])
    log(f"    slowest {slowest:.0f} ms: {slowest_params or 'no filter'}")
    return p95([ms for ms, _ in samples])


def client_for(username: str) -> tuple[Client, object]:
    user = get_user_model().objects.get(username=username)
    client = Client()
    client.force_login(user)
    return client, user


def getter(client: Client, path: str, *, api: bool = False) -> Callable[[dict], object]:
    def get(params: dict):
        response = client.get(path, params, **({"HTTP_ACCEPT": "application/json"} if api else {}))
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} {params} answered {response.status_code}")
        if api:
            json.loads(response.content)
        else:
            response.content  # noqa: B018 - rendered in full, as a browser would receive it
        return response

    return get


def run(customers: int) -> None:
    log("migrate")
    call_command("migrate", verbosity=0)
    emit(BENCH, "seed_s", seed(customers), "s")
    log(f"{Customer.objects.count():,} customers in the database")

    for username, suffix in (("admin", ""), ("manager", "_as_manager"), ("operator", "_as_operator")):
        client, user = client_for(username)
        combos = filter_combinations(user, customers)
        page = getter(client, "/customers/")
        first = timed_p95(page, [{}])
        emit(BENCH, f"customer_list_first_page{suffix}_p95_ms", first, "ms")
        filtered = timed_p95(page, combos)
        emit(BENCH, f"customer_list_filtered{suffix}_p95_ms", filtered, "ms")
        log(f"  {username}: first page {first:.1f} ms, filtered {filtered:.1f} ms (p95)")
        if username == "admin":
            api = getter(client, "/api/v1/customers/", api=True)
            emit(BENCH, "api_customer_list_first_page_p95_ms", timed_p95(api, [{}]), "ms")
            emit(
                BENCH,
                "api_customer_list_filtered_p95_ms",
                timed_p95(api, [c for c in combos if "after" not in c]),
                "ms",
            )
