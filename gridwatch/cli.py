"""The `gridwatch` command line (CONTRACT.md section 2).

Every setting is an option of the top-level command and a `GRIDWATCH_*` variable:
`gridwatch --redis-url redis://... ingest` equals `GRIDWATCH_REDIS_URL=redis://... gridwatch ingest`.
The subcommands only parse their own arguments and call into the packages.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Optional

import typer

from gridwatch.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.split("\n\n")[0])
geodata_app = typer.Typer(no_args_is_help=True, help="Boundary files: validation and the demo dataset.")
users_app = typer.Typer(no_args_is_help=True, help="Dashboard accounts.")
app.add_typer(geodata_app, name="geodata")
app.add_typer(users_app, name="users")


def _settings_callback(ctx: typer.Context, **options) -> None:
    given = {k: v for k, v in options.items() if v is not None}
    ctx.obj = Settings(**given)


def _option_for(name: str, field) -> inspect.Parameter:
    ann = field.annotation
    base = next((a for a in getattr(ann, "__args__", ()) if a is not type(None)), ann)
    if base not in (str, int, float, Path):
        base = str
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[base],
        default=typer.Option(None, f"--{name.replace('_', '-')}", help=field.description or None,
                             show_default=False),
    )


# Environment variables are read by Settings itself; the options only override them.
_settings_callback.__signature__ = inspect.Signature(
    [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    + [_option_for(n, f) for n, f in Settings.model_fields.items()]
)
app.callback()(_settings_callback)


def settings_of(ctx: typer.Context) -> Settings:
    return ctx.find_root().obj


@geodata_app.command("build-demo")
def build_demo(outdir: Path = typer.Argument(Path("var/yingtan"))) -> None:
    """Generate the embedded Yingtan demo dataset (deterministic) into OUTDIR."""
    from geodata.demo import build_demo_dataset

    summary = build_demo_dataset(outdir)
    typer.echo(summary)


if __name__ == "__main__":  # pragma: no cover
    app()
