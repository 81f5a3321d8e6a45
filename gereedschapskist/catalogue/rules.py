"""Rules that span files or need more than the schema can say; run in the loader's single pass."""

from __future__ import annotations

from collections import Counter
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Iterator

from .kernels import R_KERNEL_PACKAGE, lacks_r_kernel
from .model import Bundle, Partner, Role, Status, memory_bytes
from .pricing import FAR, price_per_hour
from .problems import Problem, Severity, json_path
from .safeyaml import Document

REVIEW_WARNING_DAYS = 30


@dataclass(frozen=True)
class Context:
    root: Path
    today: date
    docs: dict[str, Document]
    roles: list[Role]
    bundles: list[Bundle]
    partners: list[Partner]
    #: ``examples/<bundle id>/`` folders → their files (catalogue-relative), as the loader found them.
    examples: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def problem(self, file: str, path: tuple, message: str, code: str, *, value=..., warning: bool = False) -> Problem:
        document = self.docs.get(file)
        kwargs = {} if value is ... else {"value": value}
        return Problem(file=file, line=document.line_of(path) if document else None, path=json_path(path),
                       message=message, code=code,
                       severity=Severity.WARNING if warning else Severity.ERROR, **kwargs)


def run(ctx: Context) -> list[Problem]:
    problems: list[Problem] = []
    for rule in (_unique_ids, _file_names, _bundle_roles, _lifecycle, _security_review, _packages, _sizes,
                 _partners, _prices, _image_tag, _roles_have_bundles, _kernels, _examples):
        problems.extend(rule(ctx))
    return problems


def _unique_ids(ctx: Context) -> Iterator[Problem]:
    for kind, items in (("role", ctx.roles), ("bundle", ctx.bundles), ("partner", ctx.partners)):
        by_id: dict[str, list[str]] = {}
        for item in items:
            by_id.setdefault(item.id, []).append(item.file)
        for item_id, files in by_id.items():
            for file in files[1:]:
                yield ctx.problem(file, ("id",), f"the {kind} id is already used by {files[0]}; ids must be unique",
                                  "id.duplicate", value=item_id)


def _file_names(ctx: Context) -> Iterator[Problem]:
    for item in [*ctx.roles, *ctx.bundles, *ctx.partners]:
        stem = Path(item.file).stem
        if stem != item.id:
            yield ctx.problem(item.file, ("id",), f"must equal the file name {stem!r}; rename the file to "
                                                  f"{item.id}.yaml or change the id", "id.file-name", value=item.id)


def _bundle_roles(ctx: Context) -> Iterator[Problem]:
    known = {r.id for r in ctx.roles}
    for bundle in ctx.bundles:
        folder = Path(bundle.file).parent.name
        for i, role in enumerate(bundle.roles):
            if role not in known:
                yield ctx.problem(bundle.file, ("roles", i), f"is not a role; known roles: {', '.join(sorted(known))}",
                                  "role.unknown", value=role)
        if folder not in bundle.roles:
            yield ctx.problem(bundle.file, ("roles",),
                              f"the bundle is in the folder bundles/{folder}/ but does not list the role "
                              f"{folder!r}; move it to the folder of one of its roles or add the role",
                              "role.folder", value=list(bundle.roles))


def _lifecycle(ctx: Context) -> Iterator[Problem]:
    by_id = {b.id: b for b in ctx.bundles}
    for bundle in ctx.bundles:
        life = bundle.lifecycle
        if life.status is not Status.DEPRECATED:
            continue
        path = ("lifecycle", "successor")
        successor = by_id.get(life.successor)
        if life.successor == bundle.id:
            yield ctx.problem(bundle.file, path, "a bundle cannot succeed itself; name the bundle users should "
                                                 "move to", "lifecycle.successor-self", value=life.successor)
        elif successor is None:
            yield ctx.problem(bundle.file, path, "is not a bundle in the catalogue; a deprecated bundle must name "
                                                 "an existing successor", "lifecycle.successor-unknown",
                              value=life.successor)
        elif successor.lifecycle.status is Status.RETIRED:
            yield ctx.problem(bundle.file, path, "is retired, so users cannot move to it; name an active bundle",
                              "lifecycle.successor-retired", value=life.successor)
        else:
            if successor.lifecycle.status is Status.DEPRECATED:
                yield ctx.problem(bundle.file, path, "is itself deprecated; point users at its successor "
                                                     f"{successor.lifecycle.successor!r} instead",
                                  "lifecycle.successor-deprecated", value=life.successor, warning=True)
            if not set(successor.roles) & set(bundle.roles):
                yield ctx.problem(bundle.file, path, "shares no role with this bundle, so its users may not be "
                                                     "able to start it", "lifecycle.successor-role",
                                  value=life.successor, warning=True)
        if life.retires_on and life.since and life.retires_on < life.since:
            yield ctx.problem(bundle.file, ("lifecycle", "retires_on"), f"is before since ({life.since}); "
                                                                        "retirement comes after deprecation",
                              "lifecycle.dates", value=str(life.retires_on))


#: Placeholders a drafted bundle (the portal's "request a bundle", supply model d) carries until a platform admin
#: reviews its pull request: the check warns about them (on the pull request too) and the loader never offers such a
#: bundle, so a draft merged unreviewed cannot be started (fail closed).
PENDING, NOASSERTION = "pending", "NOASSERTION"
REVIEW_PENDING, LICENCE_UNKNOWN = "review.pending", "licence.unknown"
REVIEWERS_PLACEHOLDERS = frozenset({REVIEW_PENDING, LICENCE_UNKNOWN})


def _security_review(ctx: Context) -> Iterator[Problem]:
    for bundle in ctx.bundles:
        review = bundle.security_review
        if review.reviewer.strip().lower().startswith(PENDING):
            yield ctx.problem(bundle.file, ("security_review", "reviewer"),
                              "the security review is still pending: a platform admin reviews the bundle and fills "
                              "in reviewer, date and valid_until; until then it is not offered", REVIEW_PENDING,
                              value=review.reviewer, warning=True)
        if bundle.licence.spdx == NOASSERTION:
            yield ctx.problem(bundle.file, ("licence", "spdx"), "names no licence: set the bundle's SPDX licence "
                              "(and open_source, with a justification when it is not); until then it is not offered",
                              LICENCE_UNKNOWN, value=bundle.licence.spdx, warning=True)
        if review.date > ctx.today:
            yield ctx.problem(bundle.file, ("security_review", "date"), f"is in the future (today is {ctx.today})",
                              "review.future", value=str(review.date))
        if review.valid_until <= review.date:
            yield ctx.problem(bundle.file, ("security_review", "valid_until"),
                              f"must be after the review date {review.date}", "review.dates",
                              value=str(review.valid_until))
        if bundle.lifecycle.status is Status.RETIRED:
            continue
        if review.valid_until < ctx.today:
            yield ctx.problem(bundle.file, ("security_review", "valid_until"),
                              f"the security review expired on {review.valid_until}; have the bundle reviewed "
                              "again and update reviewer, date and valid_until (until then it is not offered)",
                              "review.expired", value=str(review.valid_until))
        elif review.valid_until <= ctx.today + timedelta(days=REVIEW_WARNING_DAYS):
            days = (review.valid_until - ctx.today).days
            yield ctx.problem(bundle.file, ("security_review", "valid_until"),
                              f"the security review expires in {days} day(s); plan a new review",
                              "review.expiring", value=str(review.valid_until), warning=True)


def _packages(ctx: Context) -> Iterator[Problem]:
    for bundle in ctx.bundles:
        counts = Counter((p.ecosystem, p.key) for p in bundle.packages)
        for (ecosystem, key), count in counts.items():
            if count > 1:
                index = [p.key for p in bundle.packages_of(ecosystem)].index(key)
                yield ctx.problem(bundle.file, ("packages", ecosystem.value, index),
                                  f"the package {key!r} is pinned {count} times; pin each package once",
                                  "packages.duplicate", value=key)


def _kernels(ctx: Context) -> Iterator[Problem]:
    for bundle in ctx.bundles:
        if lacks_r_kernel(bundle):
            yield ctx.problem(bundle.file, ("packages", "cran"),
                              f"the bundle pins CRAN packages and offers JupyterLab, but not {R_KERNEL_PACKAGE}: its "
                              f"JupyterLab would have no R kernel; add {R_KERNEL_PACKAGE}==<version> to packages.cran",
                              "kernels.no-r-kernel", warning=True)


def _examples(ctx: Context) -> Iterator[Problem]:
    """``examples/<bundle id>/*.ipynb``: the folder names a bundle, each file is a notebook (nbformat 4) without
    outputs (a workspace runs it; stored outputs would go stale and bloat the diff)."""
    ids = {b.id for b in ctx.bundles}
    for bundle_id, files in sorted(ctx.examples.items()):
        if bundle_id not in ids:
            yield Problem(file=f"examples/{bundle_id}/", code="examples.unknown-bundle",
                          message=f"is not a bundle id; example notebooks go in examples/<bundle id>/ "
                                  f"(known: {', '.join(sorted(ids))})")
        for rel in files:
            if not rel.endswith(".ipynb"):
                yield Problem(file=rel, code="examples.not-notebook",
                              message="is not a notebook; examples/<bundle id>/ holds only .ipynb files")
                continue
            try:
                notebook = json.loads((ctx.root / rel).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                yield Problem(file=rel, code="examples.invalid", message=f"is not a readable notebook (JSON): {exc}")
                continue
            if not isinstance(notebook, dict) or notebook.get("nbformat") != 4 \
                    or not isinstance(notebook.get("cells"), list):
                yield Problem(file=rel, path="$.nbformat", code="examples.invalid",
                              message="must be a Jupyter notebook in format 4 (nbformat: 4, cells: [...])")
                continue
            for index, cell in enumerate(notebook["cells"]):
                if isinstance(cell, dict) and (cell.get("outputs") or cell.get("execution_count")):
                    yield Problem(file=rel, path=f"$.cells[{index}].outputs", code="examples.outputs",
                                  message="an example is stored without outputs; clear them "
                                          "(jupyter nbconvert --clear-output --inplace)")
                    break


def _sizes(ctx: Context) -> Iterator[Problem]:
    machines = [(p, m) for p in ctx.partners for m in p.machine_sizes]
    for bundle in ctx.bundles:
        ids = Counter(s.id for s in bundle.sizes)
        for i, size in enumerate(bundle.sizes):
            if ids[size.id] > 1:
                yield ctx.problem(bundle.file, ("sizes", i, "id"), "is used for more than one size; size ids must "
                                                                   "be unique within a bundle", "sizes.duplicate",
                                  value=size.id)
                ids[size.id] = 0  # report once
            if not machines:
                continue
            # requests = limits: a size must fit what a node offers pods (its allocatable capacity: the nominal
            # size less the kubelet's reservations, eviction threshold and DaemonSets; core.capacity), not the
            # nominal size, or it never schedules and the autoscaler adds no node for it
            if not any(p.has_room(size, m) for p, m in machines):
                closest = []
                for partner in ctx.partners:
                    if not partner.machine_sizes:
                        continue
                    machine = max(partner.machine_sizes, key=lambda m: (m.gpu >= size.gpu, m.cpu, memory_bytes(m.memory)))
                    closest.append(f"partner {partner.id}: its largest, {machine.machine_type} ({machine.cpu:g} CPU, "
                                   f"{machine.memory}, {machine.gpu} GPU), offers pods "
                                   f"{partner.allocatable(machine).describe()}")
                yield ctx.problem(bundle.file, ("sizes", i),
                                  f"bundle {bundle.id!r} size {size.id!r} ({size.label}) fits no approved partner's "
                                  f"machines once the node's reservations are taken off ({'; '.join(closest)}); "
                                  f"choose a smaller size or add a larger machine size to a partner",
                                  "sizes.too-large", value={"cpu": size.cpu, "memory": size.memory, "gpu": size.gpu})


def _partners(ctx: Context) -> Iterator[Problem]:
    for partner in ctx.partners:
        for field, items in (("regions", partner.regions), ("machine_sizes", partner.machine_sizes)):
            counts = Counter(item.id for item in items)
            for i, item in enumerate(items):
                if counts[item.id] > 1:
                    counts[item.id] = 0
                    yield ctx.problem(partner.file, (field, i, "id"), "is listed more than once", "partner.duplicate",
                                      value=item.id)


def _prices(ctx: Context) -> Iterator[Problem]:
    """The price rule's inputs (:mod:`.pricing`): every offered size has a price at every partner it fits on, and
    every explicit price names a real bundle size that runs at the partner and is not far from the derived one."""
    bundles = {b.id: b for b in ctx.bundles}
    for partner in ctx.partners:
        for bundle in ctx.bundles:
            if bundle.lifecycle.status is Status.RETIRED:
                continue
            for i, size in enumerate(bundle.sizes):
                price = price_per_hour(partner, bundle.id, size)
                if partner.machine_for(size) is not None and (price is None or price.eur_per_hour <= 0):
                    yield ctx.problem(bundle.file, ("sizes", i), f"has no price at partner {partner.id}, although it "
                                                                 "fits one of its machines", "price.missing",
                                      value=size.id)
        seen: set[tuple[str, str]] = set()
        for i, explicit in enumerate(partner.size_prices):
            where = ("size_prices", i)
            bundle = bundles.get(explicit.bundle)
            if bundle is None:
                yield ctx.problem(partner.file, (*where, "bundle"), "is not a bundle of the catalogue; name the "
                                                                    "bundle's id", "price.unknown-bundle",
                                  value=explicit.bundle)
                continue
            size = bundle.size(explicit.size)
            if size is None:
                yield ctx.problem(partner.file, (*where, "size"), f"is not a size of bundle {bundle.id!r}; choose "
                                                                  f"{', '.join(s.id for s in bundle.sizes)}",
                                  "price.unknown-size", value=explicit.size)
                continue
            if (bundle.id, size.id) in seen:
                yield ctx.problem(partner.file, where, "prices this bundle size a second time; give each one price",
                                  "price.duplicate", value=f"{bundle.id}/{size.id}")
            seen.add((bundle.id, size.id))
            price = price_per_hour(partner, bundle.id, size)
            if price is None:
                yield ctx.problem(partner.file, where, f"prices {bundle.id}/{size.id} ({size.label}), which fits no "
                                                       f"machine of {partner.id}; remove the price or add a machine",
                                  "price.size-does-not-fit", value=f"{bundle.id}/{size.id}")
                continue
            derived = price.derived_eur_per_hour
            if not derived / FAR <= explicit.price_per_hour_eur <= derived * FAR:
                yield ctx.problem(partner.file, (*where, "price_per_hour_eur"),
                                  f"is more than {FAR:g} times off the derived price {derived:.4f} EUR per hour "
                                  f"({price.share:.0%} of {price.machine.machine_type} at "
                                  f"{price.machine.price_per_hour_eur} EUR); check the amount",
                                  "price.far-from-derived", value=explicit.price_per_hour_eur, warning=True)


def _image_tag(ctx: Context) -> Iterator[Problem]:
    for bundle in ctx.bundles:
        if bundle.lifecycle.status is not Status.RETIRED and bundle.image.tag != bundle.version:
            yield ctx.problem(bundle.file, ("image", "tag"),
                              f"differs from the bundle version {bundle.version!r}; the image build tags images "
                              "with the bundle version", "image.tag-version", value=bundle.image.tag, warning=True)


def _roles_have_bundles(ctx: Context) -> Iterator[Problem]:
    offered = {role for b in ctx.bundles if b.lifecycle.status is not Status.RETIRED for role in b.roles}
    for role in ctx.roles:
        if role.id not in offered:
            yield ctx.problem(role.file, ("id",), "no bundle is offered for this role, so its members can start "
                                                  "nothing", "role.no-bundles", value=role.id, warning=True)
