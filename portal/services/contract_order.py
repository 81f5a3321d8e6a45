"""An order for a standard contract: reading and checking what an organisation admin entered, and its price estimate.

:func:`read_order` turns the form's or the API's values into an :class:`Order` or refuses with
:class:`OrderRefused`, which names the field, the value and the rule (``reason`` for machines, ``field`` for the
page to mark). :func:`estimate` prices an order with the catalogue's one price rule
(:func:`gereedschapskist.catalogue.price_per_hour`), the rule spend metering uses too.

**The estimate.** The expected users each work the given hours per week, spread evenly over the allowed sizes (the
order does not say who uses which). Per size: hours per week × its price per hour; per month: × 365.25 / 12 / 7
weeks; for the whole period: × the period's days / 7 (start and end day included).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from gereedschapskist.catalogue import Bundle, Catalogue, Partner, Status, price_per_hour

from ..errors import InvalidInput
from ..models import EnvironmentStage

WEEKS_PER_MONTH = 365.25 / 12 / 7
MAX_BUDGET = Decimal("100000000")
MAX_USERS = 10_000
MAX_DAYS = 5 * 366
CENT = Decimal("0.01")


class OrderRefused(InvalidInput):
    """A refused order value: ``field`` is the form field it concerns."""

    def __init__(self, field: str, message: str, *, reason: str):
        super().__init__(f"{field}: {message}", reason=reason)
        self.field = field


@dataclass(frozen=True)
class Order:
    partner: Partner
    region: str
    stage: EnvironmentStage
    roles: tuple[str, ...]
    bundles: tuple[str, ...]
    sizes: tuple[str, ...]              # "bundle/size"
    expected_users: int
    hours_per_week: Decimal
    budget_eur: Decimal
    starts_on: date
    ends_on: date
    contact: str
    cost_centre: str

    @property
    def days(self) -> int:
        return (self.ends_on - self.starts_on).days + 1


def _list(value: Any, field: str = "roles") -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise OrderRefused(field, f"{value!r} is not a list of names", reason="invalid-input")
    return list(dict.fromkeys(v.strip() for v in value if v.strip()))


def _number(field: str, value: Any, *, reason: str = "invalid-number") -> Decimal:
    if isinstance(value, bool):
        value = None
    try:
        number = Decimal(str(value).strip().replace(" ", "")) if value is not None else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise OrderRefused(field, f"{value!r} is not a number; write it like 1500 or 1500.50", reason=reason)
    return number


def _date(field: str, value: Any) -> date:
    try:
        return date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise OrderRefused(field, f"{value!r} is not a date like 2027-01-31", reason="invalid-date") from None


def _text(field: str, value: Any, low: int, high: int) -> str:
    text = " ".join(str(value or "").split())
    if not low <= len(text) <= high or "\x00" in text:
        raise OrderRefused(field, f"{value!r}: write {low}–{high} characters", reason="invalid-input")
    return text


def _bundle_active(field: str, bundle: Bundle, today: date) -> None:
    if bundle.lifecycle.status is not Status.ACTIVE or bundle.review_expired \
            or bundle.security_review.valid_until < today:
        why = {Status.DEPRECATED: "it is deprecated", Status.RETIRED: "it is retired"}.get(
            bundle.lifecycle.status, "its security review has expired")
        raise OrderRefused(field, f"bundle {bundle.id!r} is not active ({why}); order an active bundle"
                           + (f" such as its successor {bundle.lifecycle.successor!r}"
                              if bundle.lifecycle.successor else ""), reason="bundle-not-active")


def read_order(data: dict[str, Any], *, catalogue: Catalogue, today: date) -> Order:
    """Check every value of an order, in the form's order; the first problem is refused, naming its field."""
    partner = catalogue.partners.get(str(data.get("partner") or ""))
    if partner is None:
        raise OrderRefused("partner", f"{data.get('partner')!r} is not an approved partner; choose one of "
                           f"{', '.join(sorted(catalogue.partners))}", reason="unknown-partner")
    region_id = str(data.get("region") or "")
    region = partner.region(region_id)
    if region is None:
        raise OrderRefused("region", f"{region_id!r} is not a region of {partner.id}; choose one of "
                           f"{', '.join(r.id for r in partner.regions)}", reason="unknown-region")
    if not region.in_eu:
        raise OrderRefused("region", f"{region_id!r} is in {region.country}, outside the European Union; only EU "
                           "regions may hold an environment", reason="non-eu-region")
    try:
        stage = EnvironmentStage(str(data.get("stage") or ""))
    except ValueError:
        raise OrderRefused("stage", f"{data.get('stage')!r}: choose development or production",
                           reason="unknown-stage") from None
    roles = _list(data.get("roles"), "roles")
    if not roles:
        raise OrderRefused("roles", "choose at least one workbench role", reason="unknown-role")
    for role in roles:
        if role not in catalogue.roles:
            raise OrderRefused("roles", f"{role!r} is not a workbench role of the catalogue; choose from "
                               f"{', '.join(sorted(catalogue.roles))}", reason="unknown-role")
    bundle_ids = _list(data.get("bundles"), "bundles")
    if not bundle_ids:
        raise OrderRefused("bundles", "choose at least one bundle", reason="unknown-bundle")
    bundles = []
    for bundle_id in bundle_ids:
        bundle = catalogue.bundles.get(bundle_id)
        if bundle is None:
            raise OrderRefused("bundles", f"{bundle_id!r} is not a bundle of the catalogue", reason="unknown-bundle")
        _bundle_active("bundles", bundle, today)
        if not set(bundle.roles) & set(roles):
            raise OrderRefused("bundles", f"bundle {bundle_id!r} is for the role {' or '.join(bundle.roles)}, which "
                               "the order does not name; add the role or leave the bundle out",
                               reason="bundle-not-in-roles")
        bundles.append(bundle)
    sizes = _sizes(_list(data.get("sizes"), "sizes"), bundles=bundles, partner=partner)
    users = _number("expected_users", data.get("expected_users"))
    if users != users.to_integral_value() or not 1 <= users <= MAX_USERS:
        raise OrderRefused("expected_users", f"{data.get('expected_users')!r}: a whole number from 1 to {MAX_USERS}",
                           reason="invalid-number")
    hours = _number("hours_per_week", data.get("hours_per_week"))
    if 0 < hours <= 168:
        hours = hours.quantize(CENT)            # what is stored; 0.001 would be stored as 0
    if not 0 < hours <= 168:
        raise OrderRefused("hours_per_week", f"{data.get('hours_per_week')!r}: more than 0 and at most 168 hours per week",
                           reason="invalid-number")
    budget = _number("budget_eur", data.get("budget_eur"), reason="invalid-budget")
    if 0 < budget <= MAX_BUDGET:
        budget = budget.quantize(CENT)
    if budget <= 0 or budget > MAX_BUDGET:
        raise OrderRefused("budget_eur", f"{data.get('budget_eur')!r}: a budget must be more than 0 and at most {MAX_BUDGET} euros",
                           reason="invalid-budget")
    starts_on, ends_on = _date("starts_on", data.get("starts_on")), _date("ends_on", data.get("ends_on"))
    if starts_on < today:
        raise OrderRefused("starts_on", f"{starts_on.isoformat()} has passed; start today ({today.isoformat()}) "
                           "or later", reason="start-in-past")
    if ends_on < starts_on:
        raise OrderRefused("ends_on", f"{ends_on.isoformat()} is before the start {starts_on.isoformat()}",
                           reason="end-before-start")
    if (ends_on - starts_on).days + 1 > MAX_DAYS:
        raise OrderRefused("ends_on", f"{ends_on.isoformat()}: a contract runs at most {MAX_DAYS} days",
                           reason="invalid-date")
    return Order(partner=partner, region=region.id, stage=stage, roles=tuple(roles),
                 bundles=tuple(b.id for b in bundles), sizes=sizes, expected_users=int(users),
                 hours_per_week=hours, budget_eur=budget,
                 starts_on=starts_on, ends_on=ends_on, contact=_text("contact", data.get("contact"), 3, 200),
                 cost_centre=_text("cost_centre", data.get("cost_centre"), 1, 64))


def _sizes(chosen: list[str], *, bundles: list[Bundle], partner: Partner) -> tuple[str, ...]:
    """The allowed sizes as ``bundle/size``: those chosen, each of a chosen bundle and fitting the partner's machines;
    a bundle with none chosen allows all its sizes that fit."""
    by_id = {b.id: b for b in bundles}
    result: list[str] = []
    for item in chosen:
        bundle_id, _, size_id = item.partition("/")
        bundle = by_id.get(bundle_id)
        if bundle is None:
            raise OrderRefused("sizes", f"{item!r} is not a size of one of the ordered bundles "
                               f"({', '.join(by_id)}); write it as bundle/size", reason="unknown-size")
        size = bundle.size(size_id)
        if size is None:
            raise OrderRefused("sizes", f"{item!r}: bundle {bundle_id!r} has no size {size_id!r}; choose "
                               f"{', '.join(s.id for s in bundle.sizes)}", reason="unknown-size")
        if partner.machine_for(size) is None:
            largest = max(partner.machine_sizes, key=lambda m: (m.gpu, m.cpu))
            raise OrderRefused("sizes", f"{item!r} ({size.label}) is larger than every machine of {partner.name} "
                               f"(the largest: {largest.machine_type}, {largest.cpu:g} CPU, {largest.memory}, "
                               f"{largest.gpu} GPU)", reason="size-not-at-partner")
        result.append(f"{bundle_id}/{size_id}")
    for bundle in bundles:
        if not any(item.startswith(bundle.id + "/") for item in result):
            fitting = [f"{bundle.id}/{s.id}" for s in bundle.sizes if partner.machine_for(s) is not None]
            if not fitting:
                raise OrderRefused("bundles", f"no size of bundle {bundle.id!r} fits a machine of {partner.name}",
                                   reason="size-not-at-partner")
            result.extend(fitting)
    return tuple(dict.fromkeys(result))


@dataclass(frozen=True)
class EstimateLine:
    bundle: str
    size: str
    label: str
    eur_per_hour: float
    explicit: bool
    machine: str
    hours_per_month: float
    per_month: float
    period: float


@dataclass(frozen=True)
class Estimate:
    lines: tuple[EstimateLine, ...]
    per_month: float
    period: float
    days: int
    budget_eur: float

    @property
    def over_budget(self) -> bool:
        return self.period > self.budget_eur

    def as_json(self) -> dict[str, Any]:
        return {"lines": [asdict(line) for line in self.lines], "per_month": self.per_month, "period": self.period,
                "days": self.days, "budget_eur": self.budget_eur, "over_budget": self.over_budget,
                "rule": "users x hours per week, evenly over the sizes, x price per hour (catalogue price rule)"}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Estimate | None":
        if not data or "lines" not in data:
            return None
        return cls(tuple(EstimateLine(**line) for line in data["lines"]), data["per_month"], data["period"],
                   data["days"], data["budget_eur"])


def estimate(order: Order, *, catalogue: Catalogue) -> Estimate:
    """The order's price estimate (this module's documentation)."""
    weekly = order.expected_users * float(order.hours_per_week) / len(order.sizes)
    lines = []
    for item in order.sizes:
        bundle_id, _, size_id = item.partition("/")
        size = catalogue.bundles[bundle_id].size(size_id)
        price = price_per_hour(order.partner, bundle_id, size)
        week = weekly * price.eur_per_hour
        lines.append(EstimateLine(bundle=bundle_id, size=size_id, label=size.label,
                                  eur_per_hour=round(price.eur_per_hour, 4), explicit=price.explicit,
                                  machine=price.machine.machine_type, hours_per_month=round(weekly * WEEKS_PER_MONTH, 1),
                                  per_month=round(week * WEEKS_PER_MONTH, 2), period=round(week * order.days / 7, 2)))
    return Estimate(tuple(lines), round(sum(x.per_month for x in lines), 2), round(sum(x.period for x in lines), 2),
                    order.days, float(order.budget_eur))


def order_form_values(data: dict[str, Any]) -> dict[str, Any]:
    """What was entered, to show the form again (lists kept as lists)."""
    out = {k: (v if isinstance(v, (list, tuple)) else str(v or "")) for k, v in data.items()}
    for key in ("roles", "bundles", "sizes"):
        out[key] = _safe_list(data.get(key))
    return out


def _safe_list(value: Any) -> list[str]:
    try:
        return _list(value)
    except OrderRefused:
        return []


def fields() -> Iterable[str]:
    return ("partner", "region", "stage", "roles", "bundles", "sizes", "expected_users", "hours_per_week",
            "budget_eur", "starts_on", "ends_on", "contact", "cost_centre")
