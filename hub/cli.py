"""``gereedschapskist hub …``: render the Kubernetes deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
import yaml

from gereedschapskist.catalogue import CatalogueInvalid, load
from gereedschapskist.core import paths
from gereedschapskist.core.environment import EnvironmentInvalid, load_environment

from .values import ValuesInvalid, render_values

app = typer.Typer(help="The hub: Helm values for an environment.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


def default_infra_dir() -> Path:
    """``infra/`` of this checkout (:func:`gereedschapskist.core.paths.infra_dir`)."""
    return paths.infra_dir()


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (catalogue files, config snippets) as readable block scalars."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_values(values: dict) -> str:
    return yaml.dump(values, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


@app.command()
def values(
    environment: Annotated[str, typer.Option("--environment", "-e", help="the environment (Pulumi stack) name")],
    infra_dir: Annotated[Optional[Path], typer.Option(help="folder with Pulumi.<environment>.yaml "
                                                           "(default: the project's infra/)")] = None,
    catalogue: Annotated[Optional[Path], typer.Option(help="the catalogue folder (default: the project's)")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write to this file instead of stdout")]
    = None,
) -> None:
    """Print the Zero-to-JupyterHub Helm values of an environment as YAML."""
    try:
        spec = load_environment(environment, infra_dir or default_infra_dir())
        rendered = dump_values(render_values(spec, load(catalogue)))
    except (EnvironmentInvalid, CatalogueInvalid, ValuesInvalid) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1)
    if output is None:
        typer.echo(rendered, nl=False)
    else:
        output.write_text(rendered, encoding="utf-8")
        typer.secho(f"wrote {output}", fg="green", err=True)
