"""What a change to the catalogue means for users, as Markdown for a pull-request comment."""

from __future__ import annotations

import re
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version

from .model import Bundle, Catalogue, Ecosystem, Package, Status


class RevisionError(Exception):
    """A base/head given on the command line is neither a folder nor a git revision."""


@dataclass
class BundleChange:
    bundle: Bundle
    before: Bundle
    lines: list[str] = field(default_factory=list)
    packages: list[tuple[str, str, str, str]] = field(default_factory=list)  # name, before, after, direction


@dataclass
class Report:
    added: list[Bundle] = field(default_factory=list)
    removed: list[Bundle] = field(default_factory=list)
    lifecycle: list[tuple[Bundle, Bundle]] = field(default_factory=list)
    changed: list[BundleChange] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    partners: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.lifecycle or self.changed or self.roles or self.partners)


def compare_versions(ecosystem: Ecosystem, before: str, after: str) -> int:
    """-1, 0 or 1 as ``after`` is lower, equal or higher than ``before``."""
    if ecosystem is Ecosystem.PYPI:
        try:
            a, b = Version(before), Version(after)
            return (b > a) - (b < a)
        except InvalidVersion:
            pass
    a_parts = [int(x) for x in re.findall(r"\d+", before)]
    b_parts = [int(x) for x in re.findall(r"\d+", after)]
    return (b_parts > a_parts) - (b_parts < a_parts)


def diff_catalogues(base: Catalogue, head: Catalogue) -> Report:
    report = Report()
    for bundle_id in sorted(set(head.bundles) - set(base.bundles)):
        report.added.append(head.bundles[bundle_id])
    for bundle_id in sorted(set(base.bundles) - set(head.bundles)):
        report.removed.append(base.bundles[bundle_id])
    for bundle_id in sorted(set(base.bundles) & set(head.bundles)):
        before, after = base.bundles[bundle_id], head.bundles[bundle_id]
        if before.lifecycle.status is not after.lifecycle.status:
            report.lifecycle.append((before, after))
        change = _bundle_change(before, after)
        if change.lines or change.packages:
            report.changed.append(change)
    for role_id in sorted(set(head.roles) - set(base.roles)):
        report.roles.append(f"New role **{head.roles[role_id].title.en}** (`{role_id}`).")
    for role_id in sorted(set(base.roles) - set(head.roles)):
        report.roles.append(f"Role `{role_id}` is removed.")
    report.partners.extend(_partner_changes(base, head))
    return report


def _bundle_change(before: Bundle, after: Bundle) -> BundleChange:
    change = BundleChange(bundle=after, before=before)
    lines = change.lines
    if before.version != after.version:
        lines.append(f"Version {before.version} → {after.version}.")
    for role in sorted(set(after.roles) - set(before.roles)):
        lines.append(f"Now also offered to role `{role}`.")
    for role in sorted(set(before.roles) - set(after.roles)):
        lines.append(f"No longer offered to role `{role}`.")
    added, removed = _changes(before.interfaces, after.interfaces)
    lines += [f"New interface: {i.label}." for i in added] + [f"Interface removed: {i.label}." for i in removed]
    old_sizes = {s.id: s for s in before.sizes}
    new_sizes = {s.id: s for s in after.sizes}
    for size_id, size in new_sizes.items():
        if size_id not in old_sizes:
            lines.append(f"New size `{size_id}`: {size.label}.")
        elif old_sizes[size_id].label != size.label:
            lines.append(f"Size `{size_id}`: {old_sizes[size_id].label} → {size.label}.")
    for size_id in old_sizes.keys() - new_sizes.keys():
        lines.append(f"Size `{size_id}` removed ({old_sizes[size_id].label}).")
    if before.licence.open_source and not after.licence.open_source:
        lines.append(f"⚠️ No longer fully open source: {after.licence.justification}")
    elif before.licence.spdx != after.licence.spdx:
        lines.append(f"Licence {before.licence.spdx} → {after.licence.spdx}.")
    if before.image.reference != after.image.reference:
        lines.append(f"Image `{before.image.reference}` → `{after.image.reference}`.")
    if before.security_review.valid_until != after.security_review.valid_until:
        lines.append(f"Security review by {after.security_review.reviewer} on {after.security_review.date}, "
                     f"valid until {after.security_review.valid_until}.")
    added, removed = _changes(before.system_packages, after.system_packages)
    lines += ([f"New system package (Debian): `{n}`." for n in added]
              + [f"System package (Debian) removed: `{n}`." for n in removed])
    added, removed = _changes(before.examples, after.examples)
    lines += ([f"New example notebook: `{e}`." for e in added]
              + [f"Example notebook removed: `{e}`." for e in removed])
    change.packages = _package_changes(before.packages, after.packages)
    return change


def _package_changes(before: tuple[Package, ...], after: tuple[Package, ...]) -> list[tuple[str, str, str, str]]:
    old = {(p.ecosystem, p.key): p for p in before}
    new = {(p.ecosystem, p.key): p for p in after}
    rows = []
    for key in sorted(old.keys() | new.keys(), key=lambda k: (k[0].value, k[1])):
        a, b = old.get(key), new.get(key)
        label = f"{key[1]} ({key[0].value})"
        if a is None:
            rows.append((label, "—", b.version, "➕ added"))
        elif b is None:
            rows.append((label, a.version, "—", "➖ removed"))
        elif a.version != b.version:
            direction = compare_versions(key[0], a.version, b.version)
            rows.append((label, a.version, b.version, "⬆️ up" if direction > 0 else "⬇️ down"))
    return rows


def _partner_changes(base: Catalogue, head: Catalogue) -> list[str]:
    lines = []
    for pid in sorted(set(head.partners) - set(base.partners)):
        partner = head.partners[pid]
        regions = ", ".join(f"{r.name}" for r in partner.regions)
        lines.append(f"New approved partner **{partner.name}** (`{pid}`) in {regions}.")
    for pid in sorted(set(base.partners) - set(head.partners)):
        lines.append(f"Partner `{pid}` is no longer approved.")
    for pid in sorted(set(base.partners) & set(head.partners)):
        a, b = base.partners[pid], head.partners[pid]
        for region in b.regions:
            if a.region(region.id) is None:
                lines.append(f"{b.name}: new region {region.name} ({region.country}).")
        for region in a.regions:
            if b.region(region.id) is None:
                lines.append(f"{b.name}: region {region.name} removed.")
        old = {m.id: m for m in a.machine_sizes}
        for machine in b.machine_sizes:
            was = old.get(machine.id)
            if was is None:
                lines.append(f"{b.name}: new machine size `{machine.id}` ({machine.machine_type}, "
                             f"€{machine.price_per_hour_eur:.2f}/h).")
            elif was.price_per_hour_eur != machine.price_per_hour_eur:
                lines.append(f"{b.name}: `{machine.id}` price €{was.price_per_hour_eur:.2f}/h → "
                             f"€{machine.price_per_hour_eur:.2f}/h.")
    return lines


# --------------------------------------------------------------------------- Markdown


def _bundle_summary(bundle: Bundle) -> str:
    interfaces = ", ".join(i.label for i in bundle.interfaces)
    sizes = "; ".join(f"`{s.id}` {s.label}" for s in bundle.sizes)
    licence = bundle.licence.spdx + ("" if bundle.licence.open_source else " — not open source: "
                                     + (bundle.licence.justification or ""))
    return (f"- **{bundle.title.en}** (`{bundle.id}` {bundle.version}) for role(s) "
            f"{', '.join(f'`{r}`' for r in bundle.roles)}\n"
            f"  - Interfaces: {interfaces}\n  - Sizes: {sizes}\n"
            f"  - Packages: {', '.join(p.requirement for p in bundle.packages)}\n"
            + (f"  - System packages (Debian): {', '.join(bundle.system_packages)}\n" if bundle.system_packages
               else "")
            + (f"  - Example notebooks: {', '.join(bundle.examples)}\n" if bundle.examples else "")
            + f"  - Licence: {licence}")


def render_markdown(report: Report, *, base_label: str, head_label: str, head_errors: int = 0) -> str:
    out = [f"## Catalogue changes for users ({base_label} → {head_label})", ""]
    if head_errors:
        out += [f"❌ The changed catalogue has **{head_errors} error(s)**; see `gereedschapskist catalogue check`.",
                ""]
    if report.empty:
        out.append("No changes for users.")
        return "\n".join(out) + "\n"
    if report.added:
        out += ["### New bundles", ""] + [_bundle_summary(b) for b in report.added] + [""]
    if report.removed:
        out += ["### Removed bundles", "",
                *[f"- ⚠️ **{b.title.en}** (`{b.id}` {b.version}) disappears; its users lose it without a "
                  "successor (retire it with a successor instead)." for b in report.removed], ""]
    if report.lifecycle:
        out += ["### Lifecycle", ""]
        for before, after in report.lifecycle:
            life = after.lifecycle
            text = f"- `{after.id}`: {before.lifecycle.status} → **{life.status}**"
            if life.status is Status.DEPRECATED:
                text += f"; users are pointed to `{life.successor}`"
                if life.retires_on:
                    text += f", retirement planned for {life.retires_on}"
            elif life.status is Status.RETIRED:
                text += f" on {life.since}; no longer offered"
            out.append(text + ".")
        out.append("")
    if report.changed:
        out += ["### Changed bundles", ""]
        for change in report.changed:
            out += [f"#### {change.bundle.title.en} (`{change.bundle.id}`)", ""]
            out += [f"- {line}" for line in change.lines]
            if change.packages:
                out += ["", "| Package | Before | After | Change |", "| --- | --- | --- | --- |"]
                out += [f"| {name} | {a} | {b} | {d} |" for name, a, b, d in change.packages]
            out.append("")
    if report.roles:
        out += ["### Roles", "", *[f"- {line}" for line in report.roles], ""]
    if report.partners:
        out += ["### Cloud partners", "", *[f"- {line}" for line in report.partners], ""]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- git revisions


def materialise(spec: str, catalogue_dir: Path, workdir: Path) -> tuple[Path, str]:
    """A catalogue folder for ``spec``: the folder itself, or ``catalogue_dir`` as it was at git revision ``spec``.

    Returns the folder and a label for the report. Revisions are extracted with ``git archive`` into
    ``workdir`` (a temporary folder owned by the caller), using tarfile's ``data`` filter.
    """
    path = Path(spec)
    if path.is_dir():
        return path, spec
    catalogue_dir = catalogue_dir.resolve()
    try:
        top = Path(_git(catalogue_dir, "rev-parse", "--show-toplevel").strip())
        rel = catalogue_dir.relative_to(top).as_posix()
        commit = _git(top, "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}").strip()
    except (RevisionError, ValueError) as exc:
        raise RevisionError(f"{spec!r} is neither a folder nor a git revision of {catalogue_dir} ({exc})") from exc
    workdir.mkdir(parents=True, exist_ok=True)
    archive = workdir / "catalogue.tar"
    with open(archive, "wb") as handle:
        result = subprocess.run(["git", "-C", str(top), "archive", "--format=tar", commit, "--", rel],
                                stdout=handle, stderr=subprocess.PIPE, text=False)
    if result.returncode != 0:
        raise RevisionError(f"{rel} does not exist at {spec}: {result.stderr.decode(errors='replace').strip()}")
    with tarfile.open(archive) as tar:
        tar.extractall(workdir / "tree", filter="data")
    return workdir / "tree" / rel, f"{spec} ({commit[:10]})"


def _git(cwd: Path, *args: str) -> str:
    try:
        result = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise RevisionError("git is not installed") from exc
    if result.returncode != 0:
        raise RevisionError(result.stderr.strip() or f"git {' '.join(args)} failed")
    return result.stdout


def temporary_folder() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="catalogue-diff-")


def _changes(before, after) -> tuple[list, list]:
    """What ``after`` adds to ``before`` and what it drops, each in its own order."""
    return [x for x in after if x not in before], [x for x in before if x not in after]
