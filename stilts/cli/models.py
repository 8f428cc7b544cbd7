"""``stilts models``: install and list the named offline models (``offline/<name>`` in pipelines)."""

from __future__ import annotations

import click

from stilts.core.artifacts import folder_size
from stilts.offline import registry


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


@click.group()
def models():
    """Pretrained encoders that work offline, converted once into a local cache."""


@models.command("install")
@click.argument("name")
@click.option("--force", is_flag=True, help="Convert again even if already installed.")
def install(name: str, force: bool):
    """Convert the offline model NAME into the cache (see `stilts models list`)."""
    already = registry.is_installed(name) and not force
    folder = registry.install(name, force=force)
    state = "already installed" if already else "installed"
    click.echo(f"{registry.OFFLINE_PREFIX}{name}: {state} at {folder} ({_megabytes(folder_size(folder))})")


@models.command("list")
def list_models():
    """Show every offline model, whether it is installed, where, and its size."""
    click.echo(f"cache: {registry.cache_root()}")
    for name in sorted(registry.OFFLINE_MODELS.names()):
        if registry.is_installed(name):
            folder = registry.model_path(name)
            status = f"installed  {folder}  {_megabytes(folder_size(folder))}"
        else:
            status = f"not installed  (stilts models install {name})"
        click.echo(f"{registry.OFFLINE_PREFIX}{name}  {status}")
