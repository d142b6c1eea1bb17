"""Compressed bitmaps (pyroaring) of customer ids: per tag and per attribute bucket, versioned, and a condition
evaluated on them with an exact SQL fallback for what buckets cannot answer.

Families and keys
-----------------
- family `attributes`: one build of every attribute bucket —
  `all`; `occupation_group:<v>`; `gender:<v>`; `risk_level:<n|none>`; `payday:<n|none>`; `payroll:yes`;
  `aum:<band>` (AUM_BANDS); `branch:<id|none>`; `owner:<id|none>`; `wecom:live`; `product:any`,
  `product:<category>`; and for each date column (`birth_date`, `last_transaction_date`, `created_at` as a local
  date) `<column>:y:<year>`, `<column>:md:<MMDD>` and `<column>:none`.
- family `tag:<id>`: key `members`, the customers having the tag.

A build writes a new `BitmapVersion` with all its `BitmapSet` rows, then moves `BitmapFamily.active` to it in one
transaction: readers follow the pointer, so they see the old complete set or the new complete set, never a half.
Versions are immutable, so a process keeps the bitmaps it has read in memory keyed by (version, key).

Evaluation
----------
Every leaf of a condition becomes a bitmap. Leaves the buckets answer exactly (tags, choices, pay day, birthdays,
dates and ages via year × month-day buckets, branch subtrees, owners, AUM thresholds on a band edge) are pure
bitmap algebra. The rest (AUM thresholds inside a band: only that band's rows; product amounts and maturities;
behaviour counts; tags without a built bitmap) are read from SQL as id sets for that leaf alone and combined with
the same algebra, so the result equals the SQL evaluation of the whole condition on the same data.
"""

import datetime as dt
import logging
import struct
import threading
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Case, F, IntegerField, Max, Q, QuerySet, Value, When
from django.db.models.functions import Cast, ExtractDay, ExtractMonth, ExtractYear
from django.utils import timezone
from pyroaring import BitMap

from tagging.models import Customer, CustomerTag, FollowRelationship, ProductHolding, Tag
from tagging.segments import conditions as lang
from tagging.segments.models import BitmapFamily, BitmapSet, BitmapVersion

logger = logging.getLogger(__name__)

ATTRIBUTES = "attributes"
MEMBERS = "members"
DATE_COLUMNS = ("birth_date", "last_transaction_date", "created_at")
# Lower edges of the AUM bands (yuan). The usual thresholds (1万, 5万, 10万, 50万, 100万 …) are edges, so they are
# answered from bitmaps alone; a threshold inside a band reads only that band's rows from SQL.
AUM_BANDS = [
    Decimal(edge)
    for edge in (
        0, 1000, 5000, 10_000, 20_000, 30_000, 50_000, 80_000, 100_000, 150_000, 200_000, 300_000, 500_000,
        800_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000,
    )
]  # fmt: skip
KEEP_VERSIONS = 2  # the active one and the one before it (a reader may still be loading it)
CACHE_BYTES = 256 * 1024 * 1024  # serialized size of the bitmaps one process keeps in memory
# Attribute bitmaps older than this are rebuilt by the dispatcher (and after every import).
ATTRIBUTES_MAX_AGE = dt.timedelta(minutes=10)
STALE_MARGIN = dt.timedelta(minutes=2)


AUM_SORTED = "aum:sorted"  # not a bitmap: every customer's AUM (in fen) and id, sorted (SortedColumn)


def tag_family(tag_id: int) -> str:
    return f"tag:{tag_id}"


class SortedColumn:
    """Every customer's AUM in fen (exact: two decimals) and id, sorted by AUM: any threshold is two binary
    searches and a slice. It answers the part of a band an AUM threshold cuts, without a query."""

    def __init__(self, fen: array, ids: array):
        self.fen, self.ids = fen, ids

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, rows) -> "SortedColumn":
        """From (AUM in fen, id) rows sorted by AUM."""
        fen, ids = array("q"), array("I")
        for amount, pk in rows:
            fen.append(amount)
            ids.append(pk)
        return cls(fen, ids)

    def serialize(self) -> bytes:
        return struct.pack("<I", len(self.ids)) + self.fen.tobytes() + self.ids.tobytes()

    @classmethod
    def deserialize(cls, data: bytes) -> "SortedColumn":
        (count,) = struct.unpack_from("<I", data)
        fen, ids = array("q"), array("I")
        fen.frombytes(data[4 : 4 + 8 * count])
        ids.frombytes(data[4 + 8 * count : 4 + 12 * count])
        return cls(fen, ids)

    def between(self, lower: Decimal, upper: Decimal | None, *, upper_inclusive: bool) -> BitMap:
        start = bisect_left(self.fen, int(lower * 100))
        if upper is None:
            end = len(self.fen)
        else:
            end = (bisect_right if upper_inclusive else bisect_left)(self.fen, int(upper * 100))
        return BitMap(self.ids[start:end])


# --- building --------------------------------------------------------------------------------------------------


def _grouped_ids(queryset: QuerySet, key_expr, id_column: str = "id") -> dict[object, BitMap]:
    """{bucket value: bitmap of ids} for `key_expr` over `queryset`, grouped in the database where it can."""
    if isinstance(key_expr, str):
        key_expr = F(key_expr)
    if connection.vendor == "postgresql":
        from django.contrib.postgres.aggregates import ArrayAgg

        rows = (
            queryset.order_by().values(bucket=key_expr).annotate(ids=ArrayAgg(id_column)).values_list("bucket", "ids")
        )
        return {bucket: BitMap(ids) for bucket, ids in rows}
    buckets: dict[object, BitMap] = {}
    for bucket, pk in queryset.order_by().annotate(bucket=key_expr).values_list("bucket", id_column).iterator(10_000):
        buckets.setdefault(bucket, BitMap()).add(pk)
    return buckets


def _aum_band_expr():
    whens = [When(aum__gte=edge, then=Value(index)) for index, edge in reversed(list(enumerate(AUM_BANDS)))]
    return Case(*whens, default=Value(0), output_field=IntegerField())


def _aum_in_fen(customers: QuerySet):
    """(AUM in fen, id) of every customer, sorted: two arrays from PostgreSQL in one row (one sort, no cursor);
    in Python elsewhere (SQLite keeps decimals as floats, where ×100 is not exact)."""
    if connection.vendor == "postgresql":
        from django.contrib.postgres.aggregates import ArrayAgg

        fen = Cast(F("aum") * 100, BigIntegerField())
        arrays = customers.order_by().aggregate(
            fen=ArrayAgg(fen, order_by=("aum", "id"), default=[]),
            ids=ArrayAgg("id", order_by=("aum", "id"), default=[]),
        )
        return zip(arrays["fen"], arrays["ids"], strict=True)
    ordered = customers.order_by("aum", "id")
    return ((int(aum * 100), pk) for aum, pk in ordered.values_list("aum", "id").iterator(20_000))


def _nullable_key(prefix: str, value) -> str:
    return f"{prefix}:{'none' if value is None else value}"


def attribute_buckets() -> dict[str, "BitMap | SortedColumn"]:
    """Every attribute bucket, read from the database now."""
    customers = Customer.objects.all()
    buckets: dict[str, BitMap] = {"all": BitMap(customers.values_list("id", flat=True).order_by())}
    for column in ("occupation_group", "gender"):
        for value, ids in _grouped_ids(customers, column).items():
            buckets[f"{column}:{value}"] = ids
    for column in ("risk_level", "payday"):
        for value, ids in _grouped_ids(customers, column).items():
            buckets[_nullable_key(column, value)] = ids
    for column in ("branch", "owner"):
        for value, ids in _grouped_ids(customers, f"{column}_id").items():
            buckets[_nullable_key(column, value)] = ids
    buckets["payroll:yes"] = BitMap(customers.exclude(payroll_employer="").values_list("id", flat=True).order_by())
    for band, ids in _grouped_ids(customers, _aum_band_expr()).items():
        buckets[f"aum:{band}"] = ids
    buckets[AUM_SORTED] = SortedColumn.build(_aum_in_fen(customers))
    for column in DATE_COLUMNS:
        for year, ids in _grouped_ids(customers, ExtractYear(column)).items():
            buckets[_nullable_key(f"{column}:y", year) if year is not None else f"{column}:none"] = ids
        month_day = ExtractMonth(column) * 100 + ExtractDay(column)
        for md, ids in _grouped_ids(customers, month_day).items():
            if md is not None:
                buckets[f"{column}:md:{int(md):04d}"] = ids
    live = FollowRelationship.objects.filter(deleted_at__isnull=True)
    buckets["wecom:live"] = BitMap(live.values_list("customer_id", flat=True).order_by())
    holdings = ProductHolding.objects.all()
    buckets["product:any"] = BitMap(holdings.values_list("customer_id", flat=True).order_by())
    for category, ids in _grouped_ids(holdings, "product__category", "customer_id").items():
        buckets[f"product:{category}"] = ids
    return buckets


def write_version(family: str, buckets: dict[str, BitMap]) -> BitmapVersion:
    """Store a complete build and switch the family to it atomically; drop versions no reader needs."""
    started = timezone.now()
    version = BitmapVersion.objects.create(family=family, started_at=started)
    try:
        rows = []
        for key, bitmap in buckets.items():
            if isinstance(bitmap, BitMap):
                bitmap.run_optimize()
            rows.append(BitmapSet(version=version, key=key, data=bitmap.serialize(), count=len(bitmap)))
        BitmapSet.objects.bulk_create(rows, batch_size=200)
    except Exception:
        BitmapVersion.objects.filter(pk=version.pk).update(status=BitmapVersion.Status.FAILED)
        raise
    with transaction.atomic():
        version.status = BitmapVersion.Status.READY
        version.keys = {key: len(bitmap) for key, bitmap in buckets.items()}
        version.finished_at = timezone.now()
        version.save(update_fields=["status", "keys", "finished_at"])
        _switch(family, version)
    _drop_old_versions(family)
    return version


def _switch(family: str, version: BitmapVersion) -> None:
    updated = BitmapFamily.objects.filter(name=family).update(active=version, switched_at=version.finished_at)
    if not updated:
        try:
            with transaction.atomic():
                BitmapFamily.objects.create(name=family, active=version, switched_at=version.finished_at)
        except IntegrityError:  # created by a concurrent build in the meantime
            BitmapFamily.objects.filter(name=family).update(active=version, switched_at=version.finished_at)


def _drop_old_versions(family: str) -> None:
    keep = list(
        BitmapVersion.objects.filter(family=family, status=BitmapVersion.Status.READY)
        .order_by("-id")
        .values_list("id", flat=True)[:KEEP_VERSIONS]
    )
    active = BitmapFamily.objects.filter(name=family).values_list("active_id", flat=True).first()
    keep_ids = set(keep) | ({active} if active else set())
    # Failed builds and builds older than what we keep; a build still under way (newer ids) is left alone.
    if keep_ids:
        BitmapVersion.objects.filter(family=family, id__lt=max(keep_ids)).exclude(id__in=keep_ids).exclude(
            status=BitmapVersion.Status.BUILDING, started_at__gte=timezone.now() - dt.timedelta(hours=1)
        ).delete()


def bitmaps_rebuild_attributes() -> BitmapVersion:
    return write_version(ATTRIBUTES, attribute_buckets())


def bitmaps_rebuild_tags(tag_ids: list[int] | None = None) -> list[BitmapVersion]:
    """Rebuild the bitmap of each given tag (every tag when None); a tag with no customers gets an empty one."""
    tags = Tag.objects.all() if tag_ids is None else Tag.objects.filter(pk__in=tag_ids)
    tag_ids = list(tags.values_list("pk", flat=True))
    members = _grouped_ids(CustomerTag.objects.filter(tag_id__in=tag_ids), "tag_id", "customer_id")
    return [write_version(tag_family(tag_id), {MEMBERS: members.get(tag_id, BitMap())}) for tag_id in tag_ids]


def tags_changed_since_build(since: dt.datetime | None = None) -> list[int]:
    """Tags whose bitmap is missing or older than their last change (by hand, from WeCom, by an import …).

    A change is compared with the start of the build that is active, less a margin: a change committed while a
    build was reading may carry an earlier time than the build's end, and must still trigger a rebuild.
    `since`: only changes at or after this time are read (the last check, so that the scan stays short).
    """
    from tagging.models import TagChange

    started = {
        int(name.split(":", 1)[1]): at
        for name, at in BitmapFamily.objects.filter(name__startswith="tag:", active__isnull=False).values_list(
            "name", "active__started_at"
        )
    }
    all_tags = set(Tag.objects.values_list("pk", flat=True))
    stale = all_tags - started.keys()
    if started:
        oldest = min(started.values()) - STALE_MARGIN
        since = oldest if since is None else max(since, oldest)
        latest = TagChange.objects.filter(at__gte=since).values("tag_id").annotate(last=Max("at")).order_by()
        for row in latest:
            built = started.get(row["tag_id"])
            if built is not None and row["last"] >= built - STALE_MARGIN:
                stale.add(row["tag_id"])
    return sorted(stale & all_tags)


def attributes_built_at() -> dt.datetime | None:
    """When the active attribute build started (its data is at least this fresh)."""
    return (
        BitmapFamily.objects.filter(name=ATTRIBUTES, active__isnull=False)
        .values_list("active__started_at", flat=True)
        .first()
    )


# --- reading ---------------------------------------------------------------------------------------------------

_cache_lock = threading.Lock()
_cached_sets: "OrderedDict[tuple[int, str], tuple[BitMap, int]]" = OrderedDict()
_cached_bytes = 0
_cached_keys: "OrderedDict[int, dict[str, int]]" = OrderedDict()  # version → its keys (key → count)
KEYS_CACHED = 512  # versions whose key lists a process keeps


def _remember(version_id: int, key: str, bitmap: BitMap, size: int) -> None:
    """Keep a bitmap read from the database; the least recently read go first beyond CACHE_BYTES."""
    global _cached_bytes
    with _cache_lock:
        _cached_sets[(version_id, key)] = (bitmap, size)
        _cached_bytes += size
        while _cached_bytes > CACHE_BYTES and len(_cached_sets) > 1:
            _old_key, (_old, old_size) = _cached_sets.popitem(last=False)
            _cached_bytes -= old_size


def clear_cache() -> None:
    """Forget every bitmap this process holds (tests; memory pressure)."""
    global _cached_bytes
    with _cache_lock:
        _cached_sets.clear()
        _cached_keys.clear()
        _cached_bytes = 0


def _version_keys(version_ids: list[int]) -> dict[int, dict[str, int]]:
    """The key lists of these versions, from the process cache or one query; the cache keeps KEYS_CACHED."""
    found, missing = {}, []
    with _cache_lock:
        for version_id in version_ids:
            if version_id in _cached_keys:
                _cached_keys.move_to_end(version_id)
                found[version_id] = _cached_keys[version_id]
            else:
                missing.append(version_id)
    if missing:
        rows = BitmapVersion.objects.filter(pk__in=missing, status=BitmapVersion.Status.READY).values_list("pk", "keys")
        with _cache_lock:
            for version_id, keys in rows:
                found[version_id] = _cached_keys[version_id] = keys
            while len(_cached_keys) > KEYS_CACHED:
                _cached_keys.popitem(last=False)
    return found


class BitmapsUnavailable(Exception):
    """No attribute bitmaps have been built yet: the caller counts with SQL instead."""


class _VersionGone(Exception):
    pass


@dataclass
class Reader:
    """The active versions of the families one evaluation needs, read once; bitmaps loaded on demand."""

    versions: dict[str, int] = field(default_factory=dict)
    switched: dict[str, dt.datetime] = field(default_factory=dict)
    _keys: dict[int, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def for_families(cls, families: set[str]) -> "Reader":
        reader = cls()
        rows = BitmapFamily.objects.filter(name__in=families, active__isnull=False).values_list(
            "name", "active_id", "switched_at"
        )
        for name, version_id, switched_at in rows:
            reader.versions[name] = version_id
            reader.switched[name] = switched_at
        reader._keys = _version_keys(list(reader.versions.values()))
        return reader

    def has(self, family: str) -> bool:
        return family in self.versions and self.versions[family] in self._keys

    def keys(self, family: str) -> dict[str, int]:
        return self._keys[self.versions[family]]

    def get(self, family: str, key: str) -> BitMap:
        """The bucket's bitmap; an empty one when the build had no such bucket (no customer in it)."""
        return self.get_many(family, [key])[0]

    def get_many(self, family: str, keys: list[str]) -> list[BitMap]:
        version_id = self.versions[family]
        present = self.keys(family)
        result: dict[str, BitMap] = {}
        wanted = []
        for key in keys:
            if key not in present:
                result[key] = BitMap()
                continue
            cached = _cached_sets.get((version_id, key))
            if cached is None:
                wanted.append(key)
            else:
                result[key] = cached[0]
                with _cache_lock:
                    if (version_id, key) in _cached_sets:
                        _cached_sets.move_to_end((version_id, key))
        if wanted:
            rows = list(BitmapSet.objects.filter(version_id=version_id, key__in=wanted).values_list("key", "data"))
            if len(rows) != len(set(wanted)):
                raise _VersionGone(family)
            for key, data in rows:
                data = bytes(data)
                bitmap = SortedColumn.deserialize(data) if key == AUM_SORTED else BitMap.deserialize(data)
                result[key] = bitmap
                _remember(version_id, key, bitmap, len(data))
        return [result[key] for key in keys]

    def union(self, family: str, keys: list[str]) -> BitMap:
        bitmaps = self.get_many(family, keys)
        return BitMap.union(*bitmaps) if bitmaps else BitMap()

    @property
    def built_at(self) -> dt.datetime | None:
        return min(self.switched.values(), default=None)


# --- evaluation ------------------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    bitmap: BitMap
    # Rows (in the builder's numbering) that were read from SQL rather than from bitmaps.
    sql_rows: list[str]
    built_at: dt.datetime | None
    reader: "Reader"


def families_for(condition: dict) -> set[str]:
    return {ATTRIBUTES} | {tag_family(tag_id) for tag_id in lang.references_tags(condition)}


def evaluate(condition: dict, *, today: dt.date | None = None, extra_families: set[str] = frozenset()) -> Evaluation:
    """The customers matching a validated condition, as a bitmap (whole bank, no scope applied)."""
    for attempt in range(2):
        reader = Reader.for_families(families_for(condition) | set(extra_families))
        if not reader.has(ATTRIBUTES):
            raise BitmapsUnavailable
        try:
            return evaluate_with(reader, condition, today=today)
        except _VersionGone:
            if attempt:
                raise
            clear_cache()  # a newer build replaced what we read; follow the pointers again
    raise AssertionError("unreachable")  # pragma: no cover


def evaluate_with(reader: Reader, condition: dict, *, today: dt.date | None = None) -> Evaluation:
    ctx = _EvalContext(reader, lang.CompileContext(today or lang.local_today()))
    bitmap = ctx.node(condition, ())
    return Evaluation(bitmap, ctx.sql_rows, reader.built_at, reader)


@dataclass
class _EvalContext:
    reader: Reader
    compile: lang.CompileContext
    sql_rows: list[str] = field(default_factory=list)

    @property
    def all(self) -> BitMap:
        return self.reader.get(ATTRIBUTES, "all")

    def attr(self, key: str) -> BitMap:
        return self.reader.get(ATTRIBUTES, key)

    def union(self, keys: list[str]) -> BitMap:
        return self.reader.union(ATTRIBUTES, keys)

    def node(self, node: dict, path: tuple[int, ...]) -> BitMap:
        if lang.is_group(node):
            children = [self.node(child, (*path, index)) for index, child in enumerate(node["rules"], start=1)]
            match = node["match"]
            if not children:
                return self.all.copy() if match != "none" else BitMap()
            if match == "all":
                children.sort(key=len)
                return BitMap.intersection(*children) if len(children) > 1 else children[0].copy()
            union = BitMap.union(*children) if len(children) > 1 else children[0].copy()
            return self.all - union if match == "none" else union
        bitmap = self.leaf(node)
        if bitmap is None:
            self.sql_rows.append(".".join(map(str, path)))
            bitmap = self.sql(lang.compile_leaf(node, self.compile))
        return bitmap

    def sql(self, q: Q) -> BitMap:
        return sql_ids(Customer.objects.filter(q))

    def leaf(self, leaf: dict) -> BitMap | None:  # noqa: C901 - one branch per field, flat and readable
        key, op, value = leaf["field"], leaf["op"], leaf.get("value")
        if key == "aum":
            return self.aum(op, value)
        if key in ("occupation_group", "gender"):
            union = self.union([f"{key}:{item}" for item in value])
            return union if op == "in" else self.all - union
        if key == "risk_level":
            if op == "is_empty":
                return self.attr("risk_level:none")
            union = self.union([f"risk_level:{item}" for item in value])
            return union if op == "in" else self.all - union
        if key == "payroll":
            payroll = self.attr("payroll:yes")
            return payroll if op == "is_set" else self.all - payroll
        if key == "payday":
            if op == "is_empty":
                return self.attr("payday:none")
            days = lang.payday_days(self.compile.today, value) if op == "in_days" else value
            return self.union([f"payday:{day}" for day in days])
        if key == "age":
            return self.date_range("birth_date", lang.resolve_date_bound("age", op, value, self.compile.today))
        if key == "birthday":
            pairs = lang.birthday_pairs(self.compile.today, value)
            return self.union([f"birth_date:md:{month * 100 + day:04d}" for month, day in pairs])
        if key in ("last_transaction_date", "created_at"):
            if op == "is_empty":
                return self.attr(f"{key}:none")
            return self.date_range(key, lang.resolve_date_bound(key, op, value, self.compile.today))
        if key == "branch":
            union = self.union([f"branch:{pk}" for pk in lang.resolve_branch_ids(value)])
            return union if op == "in_subtree" else self.all - union
        if key == "owner":
            if op == "is_empty":
                return self.attr("owner:none")
            union = self.union([f"owner:{pk}" for pk in value])
            return union if op == "in" else self.all - union
        if key == "wecom":
            live = self.attr("wecom:live")
            return live if op == "is_set" else self.all - live
        if key == "tag":
            families = [tag_family(tag_id) for tag_id in value]
            if not all(self.reader.has(family) for family in families):
                return None  # a tag never built: SQL for this row
            bitmaps = [self.reader.get(family, MEMBERS) for family in families]
            if op == "has_all":
                return BitMap.intersection(*bitmaps) if len(bitmaps) > 1 else bitmaps[0].copy()
            union = BitMap.union(*bitmaps) if len(bitmaps) > 1 else bitmaps[0].copy()
            return union if op == "has_any" else self.all - union
        if key == "product":
            if value.get("min_amount") or value.get("maturity_within_days") is not None:
                return None
            held = self.attr(f"product:{value['category']}" if value.get("category") else "product:any")
            return held if op == "holds" else self.all - held
        return None  # behaviour counts and anything new: SQL

    def aum(self, op: str, value) -> BitMap:
        if op == "gte":
            return self.aum_at_least(Decimal(value))
        if op == "lte":
            return self.aum_at_most(Decimal(value))
        return self.aum_at_least(Decimal(value[0])) & self.aum_at_most(Decimal(value[1]))

    def aum_at_least(self, threshold: Decimal) -> BitMap:
        result = self.union([f"aum:{i}" for i, edge in enumerate(AUM_BANDS) if edge >= threshold])
        below = [i for i, edge in enumerate(AUM_BANDS) if edge < threshold]
        if below and threshold not in AUM_BANDS:  # inside a band: that band's part at or above the threshold
            band = below[-1]
            upper = AUM_BANDS[band + 1] if band + 1 < len(AUM_BANDS) else None
            result |= self.aum_range(threshold, upper, upper_inclusive=False)
        return result

    def aum_at_most(self, threshold: Decimal) -> BitMap:
        full = [
            f"aum:{i}" for i, edge in enumerate(AUM_BANDS) if i + 1 < len(AUM_BANDS) and AUM_BANDS[i + 1] <= threshold
        ]
        result = self.union(full)
        band = [i for i, edge in enumerate(AUM_BANDS) if edge <= threshold][-1]
        if band + 1 >= len(AUM_BANDS) or AUM_BANDS[band + 1] > threshold:  # the band holding the threshold
            result |= self.aum_range(AUM_BANDS[band], threshold, upper_inclusive=True)
        return result

    def aum_range(self, lower: Decimal, upper: Decimal | None, *, upper_inclusive: bool) -> BitMap:
        """Customers with lower <= aum < upper (or <= upper): from the sorted AUM column; SQL for a build that
        has none."""
        if AUM_SORTED in self.reader.keys(ATTRIBUTES):
            return self.reader.get(ATTRIBUTES, AUM_SORTED).between(lower, upper, upper_inclusive=upper_inclusive)
        q = Q(aum__gte=lower)
        if upper is not None:
            q &= Q(aum__lte=upper) if upper_inclusive else Q(aum__lt=upper)
        return self.sql(q)

    def date_range(self, column: str, bound: lang.DateBound) -> BitMap:
        result = None
        if bound.lower is not None:
            result = self.date_on_or_after(column, bound.lower)
        if bound.upper is not None:
            below = self.date_before(column, bound.upper)
            result = below if result is None else result & below
        return result if result is not None else self.all - self.attr(f"{column}:none")

    def _years(self, column: str) -> list[int]:
        prefix = f"{column}:y:"
        return [int(key[len(prefix) :]) for key in self.reader.keys(ATTRIBUTES) if key.startswith(prefix)]

    def date_on_or_after(self, column: str, day: dt.date) -> BitMap:
        years = self._years(column)
        result = self.union([f"{column}:y:{year}" for year in years if year > day.year])
        if day.year in years:
            md = day.month * 100 + day.day
            later_days = self.union([f"{column}:md:{m:04d}" for m in _month_days() if m >= md])
            result |= self.attr(f"{column}:y:{day.year}") & later_days
        return result

    def date_before(self, column: str, day: dt.date) -> BitMap:
        years = self._years(column)
        result = self.union([f"{column}:y:{year}" for year in years if year < day.year])
        if day.year in years:
            md = day.month * 100 + day.day
            earlier_days = self.union([f"{column}:md:{m:04d}" for m in _month_days() if m < md])
            result |= self.attr(f"{column}:y:{day.year}") & earlier_days
        return result


def _month_days() -> list[int]:
    return [month * 100 + day for month in range(1, 13) for day in range(1, 32)]


def sql_ids(queryset: QuerySet, column: str = "id") -> BitMap:
    """Ids from SQL as a bitmap: one array from PostgreSQL rather than a row per id."""
    if connection.vendor == "postgresql":
        from django.contrib.postgres.aggregates import ArrayAgg

        ids = queryset.order_by().aggregate(ids=ArrayAgg(column))["ids"]
        return BitMap(ids or [])
    return BitMap(queryset.order_by().values_list(column, flat=True))
