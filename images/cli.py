"""``gereedschapskist images …``: render the image definitions and the pieces CI needs to build them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from gereedschapskist.catalogue import CatalogueInvalid, default_root, load
from gereedschapskist.catalogue.problems import display_path

from .digest import DigestError, set_digest
from .matrix import MatrixError, changed_files, plan
from .smoke import smoke_script
from .tree import compare, images_dir_for, render_all, write

app = typer.Typer(help="Workspace image definitions per bundle, and the portal and hub images.",
                  no_args_is_help=True, pretty_exceptions_enable=False)

CatalogueOpt = Annotated[Optional[Path], typer.Option("--catalogue", help="the catalogue folder (default: the "
                                                                         "project's catalogue-of-tools/)",
                                                      show_default=False)]
ImagesOpt = Annotated[Optional[Path], typer.Option("--images-dir", help="the images folder (default: images/ "
                                                                       "beside the catalogue folder)",
                                                   show_default=False)]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", fg="red", err=True)
    return typer.Exit(code)


def _load(path: Optional[Path]):
    root = path or default_root()
    if not root.is_dir():
        raise _fail(f"{root} is not a folder", 2)
    try:
        return root, load(root)
    except CatalogueInvalid as exc:
        raise _fail(f"{exc}\nfix the catalogue first (gereedschapskist catalogue check)") from None


def _images_dir(root: Path, images_dir: Optional[Path]) -> Path:
    found = images_dir or images_dir_for(root)
    if found is None:
        raise _fail(f"there is no images/ folder beside {display_path(root)}; pass --images-dir", 2)
    return found


@app.command()
def render(
    catalogue: CatalogueOpt = None,
    images_dir: ImagesOpt = None,
    check: Annotated[bool, typer.Option("--check", help="change nothing; exit 1 when a definition is "
                                                        "missing or out of date (for CI)")] = False,
) -> None:
    """Write or update every image definition from the catalogue (bundles that are not retired, portal, hub)."""
    root, cat = _load(catalogue)
    target = _images_dir(root, images_dir)
    rendered = render_all(cat)
    for unsupported in rendered.unsupported:
        typer.secho(f"error: {unsupported}", fg="red", err=True)
    drifts = compare(target, rendered) if check else write(target, rendered)
    for drift in drifts:
        if check:
            typer.echo(f"{display_path(target)}/{drift.describe()}")
        else:
            verb = "removed" if drift.orphan else "wrote"
            typer.echo(f"{verb} {display_path(target / drift.folder)}/")
    total = len(rendered.definitions)
    if check and (drifts or rendered.unsupported):
        typer.secho(f"✗ {len(drifts)} of {total} image definitions are not in step with the catalogue; run "
                    "`gereedschapskist images render` and commit the result", fg="red", err=True)
        raise typer.Exit(1)
    if rendered.unsupported:
        raise typer.Exit(1)
    note = f" ({len(drifts)} updated)" if drifts and not check else ""
    typer.secho(f"✓ {total} image definitions in step with the catalogue{note}", fg="green", err=True)


@app.command()
def matrix(
    base: Annotated[Optional[str], typer.Option(help="the git revision before the change; without it (or all "
                                                     "zeros, as on a branch's first push) everything is built")] = None,
    head: Annotated[str, typer.Option(help="the git revision after the change")] = "HEAD",
    build_all: Annotated[bool, typer.Option("--all", help="build every image regardless of the diff")] = False,
    registry: Annotated[Optional[str], typer.Option(help="where images are pushed, e.g. ghcr.io/gereedschapskist; "
                                                         "every bundle's image.repository must be <registry>/<id>")]
    = None,
    github_output: Annotated[Optional[Path], typer.Option(help="append the outputs to this file "
                                                               "($GITHUB_OUTPUT) as well as printing them")] = None,
    catalogue: CatalogueOpt = None,
    images_dir: ImagesOpt = None,
) -> None:
    """The CI build matrix: bundle images whose definition changed, and the project images whose inputs did."""
    root, cat = _load(catalogue)
    target = _images_dir(root, images_dir)
    repo = target.parent
    try:
        changed = None if build_all else changed_files(repo, base, head)
        result = plan(cat, changed, registry=registry, images_prefix=target.resolve().relative_to(
            repo.resolve()).as_posix())
    except MatrixError as exc:
        raise _fail(str(exc)) from None
    outputs = result.as_outputs()
    for key, value in outputs.items():
        typer.echo(f"{key}={value}")
    if github_output is not None:
        with open(github_output, "a", encoding="utf-8") as handle:
            handle.writelines(f"{key}={value}\n" for key, value in outputs.items())
    scope = "everything (no base revision)" if changed is None else f"{len(changed)} changed file(s)"
    typer.echo(f"{len(result.bundles)} bundle image(s), {len(result.project)} project image(s) to build "
               f"from {scope}", err=True)


@app.command("smoke-test")
def smoke_test(
    bundle_id: Annotated[str, typer.Argument(help="the bundle whose image is tested")],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write the script here")] = None,
    catalogue: CatalogueOpt = None,
) -> None:
    """Print the smoke test of a bundle's image (a bash script to run inside the image), from the catalogue."""
    _, cat = _load(catalogue)
    bundle = cat.bundles.get(bundle_id)
    if bundle is None:
        raise _fail(f"there is no bundle {bundle_id!r}; bundles: {', '.join(sorted(cat.bundles))}", 2)
    script = smoke_script(bundle)
    if output:
        output.write_text(script, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)
    else:
        typer.echo(script, nl=False)


@app.command("set-digest")
def set_digest_command(
    bundle_id: Annotated[str, typer.Argument(help="the bundle whose image was pushed")],
    digest: Annotated[str, typer.Argument(help="the digest the registry returned for the push (sha256:…)")],
    tag: Annotated[Optional[str], typer.Option(help="the tag that was built; refused if the bundle's "
                                                    "image.tag has moved on since")] = None,
    catalogue: CatalogueOpt = None,
) -> None:
    """Write a pushed image's digest into its bundle's image.digest (CI only: never invent a digest)."""
    root = catalogue or default_root()
    try:
        path, changed = set_digest(root, bundle_id, digest, built_tag=tag)
    except DigestError as exc:
        typer.secho(f"error: {exc.message}", fg="red", err=True)
        typer.echo(json.dumps({"reason": exc.reason}), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{'wrote' if changed else 'already had'} {digest} in {display_path(path)}")
