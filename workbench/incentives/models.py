"""Incentive schemes, their versions and metric lines, and the scores computed from them.

- `Scheme` — a named scheme head office runs (客户经理月度考核); active or not.
- `SchemeVersion` — what the scheme says: period kind, roles, branch subtrees, metric lines. A version that scores
  were computed with is frozen: editing the scheme then makes a new version, so an old score still explains
  itself with the rules it was computed under.
- `Score` — one operator's total for one scheme and period, with the breakdown per metric and three ranks.
- `ScoreRun` — one computation started from the UI or by beat: its progress and outcome.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from workbench.org.roles import Role


class PeriodKind(models.TextChoices):
    MONTH = "month", _("Month")
    QUARTER = "quarter", _("Quarter")


class Scheme(models.Model):
    name = models.CharField(_("name"), max_length=64, unique=True)
    is_active = models.BooleanField(_("active"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("incentive scheme")
        verbose_name_plural = _("incentive schemes")
        ordering = ["-is_active", "name"]

    def __str__(self):
        return self.name

    @property
    def current(self) -> "SchemeVersion | None":
        return self.versions.order_by("-number").first()


class SchemeVersion(models.Model):
    scheme = models.ForeignKey(Scheme, verbose_name=_("scheme"), on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    period_kind = models.CharField(_("period"), max_length=8, choices=PeriodKind.choices, default=PeriodKind.MONTH)
    roles = models.JSONField(_("roles"), default=list)
    # Empty: the whole bank. Otherwise the operators of these branches and every branch below them.
    branches = models.ManyToManyField("org.Branch", verbose_name=_("branches"), blank=True, related_name="+")
    note = models.CharField(_("what changed"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("scheme version")
        verbose_name_plural = _("scheme versions")
        ordering = ["scheme", "-number"]
        constraints = [models.UniqueConstraint(fields=["scheme", "number"], name="incentive_version_once")]

    def __str__(self):
        return f"{self.scheme.name} v{self.number}"

    def role_labels(self) -> list[str]:
        labels = dict(Role.choices)
        return [str(labels.get(role, role)) for role in self.roles]


class MetricLine(models.Model):
    version = models.ForeignKey(
        SchemeVersion, verbose_name=_("version"), on_delete=models.CASCADE, related_name="lines"
    )
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    metric = models.CharField(_("metric"), max_length=32)
    weight = models.PositiveSmallIntegerField(_("weight"))
    target = models.DecimalField(_("target"), max_digits=16, decimal_places=2)
    cap = models.DecimalField(_("cap (points)"), max_digits=8, decimal_places=2)
    floor = models.DecimalField(_("floor (points)"), max_digits=8, decimal_places=2)

    class Meta:
        verbose_name = _("metric line")
        verbose_name_plural = _("metric lines")
        ordering = ["version", "order", "pk"]
        constraints = [models.UniqueConstraint(fields=["version", "metric"], name="incentive_metric_once")]

    def __str__(self):
        return f"{self.metric} ×{self.weight}"


class Score(models.Model):
    scheme = models.ForeignKey(Scheme, verbose_name=_("scheme"), on_delete=models.CASCADE, related_name="scores")
    version = models.ForeignKey(
        SchemeVersion, verbose_name=_("version"), on_delete=models.PROTECT, related_name="scores"
    )
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    operator = models.ForeignKey("org.Operator", verbose_name=_("operator"), on_delete=models.CASCADE, related_name="+")
    # Where the operator stood when scored: the team is their own branch node, the branch its level-2 ancestor.
    team = models.ForeignKey("org.Branch", verbose_name=_("team"), on_delete=models.PROTECT, related_name="+")
    region = models.ForeignKey(
        "org.Branch", verbose_name=pgettext_lazy("level-2 branch", "branch"), on_delete=models.PROTECT, related_name="+"
    )
    team_path = models.CharField(_("team path"), max_length=255)
    total = models.DecimalField(_("total points"), max_digits=10, decimal_places=2)
    # One entry per metric line: metric, value, target, achievement, raw, points, capped, floored, no_data.
    breakdown = models.JSONField(_("breakdown"), default=list)
    rank_team = models.PositiveIntegerField(_("rank in team"))
    rank_region = models.PositiveIntegerField(_("rank in branch"))
    rank_bank = models.PositiveIntegerField(_("rank in bank"))
    team_size = models.PositiveIntegerField(_("team size"))
    region_size = models.PositiveIntegerField(_("branch size"))
    bank_size = models.PositiveIntegerField(_("bank size"))
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("score")
        verbose_name_plural = _("scores")
        constraints = [
            models.UniqueConstraint(fields=["scheme", "period_start", "operator"], name="incentive_score_once")
        ]
        indexes = [
            models.Index(fields=["scheme", "period_start", "rank_bank"], name="incentive_score_bank"),
            models.Index(fields=["operator", "period_start"], name="incentive_score_operator"),
        ]

    def __str__(self):
        return f"{self.operator_id} {self.period_start} {self.total}"


class ScoreRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", pgettext_lazy("score run", "Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    scheme = models.ForeignKey(Scheme, verbose_name=_("scheme"), on_delete=models.CASCADE, related_name="runs")
    period_start = models.DateField(_("period start"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(_("operators"), default=0)
    done = models.PositiveIntegerField(_("scored"), default=0)
    error = models.TextField(_("error"), blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("score run")
        verbose_name_plural = _("score runs")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.scheme_id} {self.period_start} {self.status}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return min(99, int(self.done * 100 / self.total)) if self.total else 0

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}
