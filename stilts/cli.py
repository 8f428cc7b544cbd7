"""The `stilts` command line.

Commands live in their own modules and are imported only when used, so `stilts --help` and bad-input
errors come back fast (torch and transformers take seconds to import).
"""

from __future__ import annotations

import sys

import click

from stilts.errors import BadInput, RunFailed
from stilts.registry import Registry

#: the commands: name -> click command, imported when used ("module:attribute"). Plugins are not
#: loaded for it: they import torch, and `stilts --help` and usage errors must come back at once
COMMANDS: Registry[click.Command] = Registry("command", from_plugins=False)
for _name, _target in {
    "export": "stilts.export_cli:export",
    "mlm-corpus": "stilts.mlm.cli:mlm_corpus",
    "models": "stilts.offline.cli:models",
    "predict": "stilts.predict_cli:predict",
    "run": "stilts.commands:run",
    "sweep": "stilts.commands:sweep",
    "score": "stilts.metrics.cli:score",
    "status": "stilts.status_cli:status",
    "table": "stilts.reports.cli:table",
    "tasks": "stilts.catalog_cli:tasks",
    "translate": "stilts.translate.cli:translate",
}.items():
    COMMANDS.add_lazy(_name, _target, origin="stilts")


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS.names())

    def get_command(self, ctx, name):
        return COMMANDS.get(name) if name in COMMANDS else None


@click.group(cls=LazyGroup)
@click.version_option(package_name="stilts")
def cli():
    """Intermediate-task training of multilingual encoders and zero-shot cross-lingual evaluation."""


def main(argv=None) -> None:
    """Entry point: bad input gives one line on stderr and exit 2; no traceback."""
    try:
        cli.main(args=argv, prog_name="stilts", standalone_mode=False)
    except BadInput as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except RunFailed as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    except OSError as error:  # the disk or the system, not the input: full, read-only, I/O error
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.UsageError as error:  # a bad option or argument: one line, as for any bad input
        command = error.ctx.command_path if error.ctx else "stilts"
        click.echo(f"error: {command}: {error.format_message()} (see {command} --help)", err=True)
        sys.exit(2)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(0)


if __name__ == "__main__":
    main()
