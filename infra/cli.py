"""``gereedschapskist infra …``: check a stack file the way ``pulumi up`` would, without a cloud."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="Infrastructure: check stack files for the platform and contract environments.",
                  no_args_is_help=True, pretty_exceptions_enable=False)



@app.command("preview-config")
def preview_config(
    stack: Annotated[str, typer.Argument(help="the stack name: infra/Pulumi.<stack>.yaml")],
    infra_dir: Annotated[Optional[Path], typer.Option(help="folder with the stack files (default: infra/)")] = None,
) -> None:
    """Validate a stack file against the catalogue and show what would be created.

    Exit status: 0 deployable, 1 refused (every problem is listed with file, field and value).
    """
    from gereedschapskist.catalogue import load

    from .config import ContractStack, load_stack
    from .errors import StackInvalid
    from .plan import plan_environment, plan_platform

    from gereedschapskist.core import paths

    folder = paths.infra_dir(infra_dir)
    try:
        config = load_stack(stack, folder)
        catalogue = load()
        if isinstance(config, ContractStack):
            plan = plan_environment(config, catalogue)
            from .workbench import hub_values

            hub_values(plan, catalogue)
        else:
            plan = plan_platform(config, catalogue)
    except StackInvalid as exc:
        for problem in exc.problems:
            typer.secho(problem, fg="red", err=True)
        typer.secho(f"✗ stack {stack!r} refused ({exc.reason}); nothing would be created", fg="red", err=True)
        raise typer.Exit(1)
    kind = "contract environment" if isinstance(config, ContractStack) else "central platform"
    typer.echo(f"stack {stack}: {kind}, {config.cloud.partner} ({plan.partner.name}), region {plan.region.id} "
               f"({plan.region.name}, {plan.region.country}), "
               f"{'production' if config.production else 'development'}")
    for pool in plan.pools:
        taints = f", taint {', '.join(map(str, pool.taints))}" if pool.taints else ""
        typer.echo(f"  pool {pool.name:<10} {pool.machine.machine_type:<22} {pool.min_nodes}-{pool.max_nodes} nodes"
                   f"{taints}  (≤ EUR {pool.max_monthly_eur:,.0f}/month)")
    if isinstance(config, ContractStack):
        typer.echo(f"  bundles: {', '.join(b.id for b in plan.bundles)}")
        if plan.kafka:
            typer.echo(f"  kafka: {plan.kafka.brokers} brokers, {plan.kafka.storage} each")
        if config.production:
            typer.echo(f"  egress allow-list: {', '.join(r.cidr for r in config.cloud.egress_allow_list) or 'none'}")
            typer.echo(f"  egress domains (proxy): {', '.join(config.cloud.egress_domains) or 'none'}")
        for warning in plan.warnings:
            typer.secho(f"  warning: {warning}", fg="yellow", err=True)
    else:
        typer.echo(f"  portal: {plan.portal_image} × {config.platform.replicas}, {config.platform.public_url}")
    typer.secho(f"✓ stack {stack!r} is deployable: at most EUR {plan.max_monthly_eur:,.0f} a month for nodes",
                fg="green", err=True)
