"""``gereedschapskist catalogue …``: the commands admins and CI run on the catalogue."""

from __future__ import annotations

import json
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .diff import RevisionError, diff_catalogues, materialise, render_markdown, temporary_folder
from .loader import default_root, load_catalogue
from .problems import Severity, display_path
from .resolution import cuda_problems
from .schema import check_schemas

app = typer.Typer(help="Check the catalogue of tools and show what a change means for users.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


class Format(StrEnum):
    text = "text"
    json = "json"
    github = "github"


def _today(value: Optional[str]) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-11-23", param_hint="--today")


def _root(path: Optional[Path]) -> Path:
    root = path or default_root()
    if not root.is_dir():
        raise typer.BadParameter(f"{root} is not a folder", param_hint="PATH")
    return root


PathArg = Annotated[Optional[Path], typer.Argument(help="the catalogue folder (default: the project's catalogue-of-tools/)",
                                                  show_default=False)]
TodayOpt = Annotated[Optional[str], typer.Option(help="check as if it were this date (YYYY-MM-DD), e.g. to see "
                                                       "which security reviews expire next month")]


@app.command()
def check(
    path: PathArg = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="text for people, json for machines, "
                                                                   "github for workflow annotations")] = Format.text,
    today: TodayOpt = None,
    strict: Annotated[bool, typer.Option(help="treat warnings as errors")] = False,
    extra: Annotated[bool, typer.Option(help="also run the checks other components register "
                                             "(e.g. image definitions in step)")] = True,
    resolve: Annotated[bool, typer.Option(help="also resolve each bundle's PyPI packages with uv (needs the "
                                               "package index) and warn when a bundle without a GPU size pulls "
                                               "CUDA wheels")] = False,
) -> None:
    """Validate every file against the schema and the catalogue rules; list every problem.

    Exit status: 0 valid, 1 invalid, 2 usage error.
    """
    root = _root(path)
    schema_problems = check_schemas()
    result = load_catalogue(root, today=_today(today), extra_checks=extra)
    problems = schema_problems + result.problems
    if resolve:
        problems += cuda_problems(result.catalogue)
    failed = any(p.severity is Severity.ERROR or strict for p in problems)
    catalogue = result.catalogue
    if format is Format.json:
        typer.echo(json.dumps({
            "valid": not failed,
            "root": str(root),
            "files": result.files,
            "errors": sum(p.severity is Severity.ERROR for p in problems),
            "warnings": sum(p.severity is Severity.WARNING for p in problems),
            "problems": [p.to_json() for p in problems],
            "bundles": sorted(catalogue.bundles), "roles": sorted(catalogue.roles),
            "partners": sorted(catalogue.partners),
        }, indent=2, ensure_ascii=False))
    else:
        for problem in problems:
            if format is Format.github:
                kind = "error" if problem.severity is Severity.ERROR or strict else "warning"
                where = f"file={display_path(root / problem.file)}" + (f",line={problem.line}" if problem.line else "")
                typer.echo(f"::{kind} {where}::{problem.path}: {problem.message}")
            else:
                typer.echo(problem.format(root), err=False)
        errors = sum(p.severity is Severity.ERROR for p in problems)
        warnings = len(problems) - errors
        offered = sum(b.offered for b in catalogue.bundles.values())
        if failed:
            typer.secho(f"✗ {display_path(root)}: {errors} error(s), {warnings} warning(s) in {result.files} files",
                        fg="red", err=True)
        else:
            typer.secho(f"✓ {display_path(root)} is valid: {len(catalogue.bundles)} bundles ({offered} offered), "
                        f"{len(catalogue.roles)} roles, {len(catalogue.partners)} partners"
                        + (f"; {warnings} warning(s)" if warnings else ""), fg="green", err=True)
    raise typer.Exit(1 if failed else 0)


@app.command()
def diff(
    base: Annotated[str, typer.Argument(help="the catalogue before: a folder or a git revision such as origin/main")],
    head: Annotated[Optional[str], typer.Argument(help="the catalogue after: a folder or a git revision "
                                                       "(default: the working tree)", show_default=False)] = None,
    catalogue_dir: Annotated[Optional[Path], typer.Option(help="where the catalogue lives in the repository, "
                                                                "for git revisions")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write the Markdown to this file")] = None,
) -> None:
    """Show what a change to the catalogue means for users, as Markdown for a pull-request comment."""
    catalogue_dir = _root(catalogue_dir)
    with temporary_folder() as tmp:
        try:
            base_dir, base_label = materialise(base, catalogue_dir, Path(tmp) / "base")
            if head is None:
                head_dir, head_label = catalogue_dir, "working tree"
            else:
                head_dir, head_label = materialise(head, catalogue_dir, Path(tmp) / "head")
        except RevisionError as exc:
            typer.secho(f"error: {exc}", fg="red", err=True)
            raise typer.Exit(2)
        base_result = load_catalogue(base_dir)
        head_result = load_catalogue(head_dir)
        report = diff_catalogues(base_result.catalogue, head_result.catalogue)
        markdown = render_markdown(report, base_label=base_label, head_label=head_label,
                                   head_errors=len(head_result.errors))
    if output:
        output.write_text(markdown, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)
    else:
        sys.stdout.write(markdown)
