"""The `stilts` command line.

Commands live in their own modules and are imported only when used, so `stilts --help` and bad-input
errors come back fast (torch and transformers take seconds to import).
"""

from __future__ import annotations

import ast
import importlib.util
import signal
import sys
from pathlib import Path

import click

from stilts.core.errors import BadInput, RunFailed
from stilts.core.interrupts import Interrupted, handling_signals
from stilts.core.registry import Registry

#: the commands, name -> "module:attribute" of the click command, imported when used. Plugins are not
#: loaded for it: they import the catalogs, and `stilts --help` and usage errors must come back at once.
#: In the order of the work, as docs/index.md lists them and `stilts --help` shows them: train, look at
#: the runs, use the results, then the catalog and the data tools.
COMMAND_TARGETS = {
    "run": "stilts.cli.run:run",
    "prepare": "stilts.cli.prepare:prepare",
    "sweep": "stilts.cli.sweep:sweep",
    "rank": "stilts.cli.rank:rank",
    "status": "stilts.cli.status:status",
    "export": "stilts.cli.export:export",
    "predict": "stilts.cli.predict:predict",
    "table": "stilts.cli.table:table",
    "score": "stilts.cli.score:score",
    "tasks": "stilts.cli.tasks:tasks",
    "models": "stilts.cli.models:models",
    "mlm-corpus": "stilts.mlm.cli:mlm_corpus",
    "translate": "stilts.translate.cli:translate",
}
COMMANDS: Registry[click.Command] = Registry("command", from_plugins=False)
for _name, _target in COMMAND_TARGETS.items():
    COMMANDS.add_lazy(_name, _target, origin="stilts")


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return COMMANDS.names()

    def get_command(self, ctx, name):
        return COMMANDS.get(name) if name in COMMANDS else None

    def format_commands(self, ctx, formatter):
        """`stilts --help`'s command list, as click writes it, from each command's docstring read out of
        its module's source: importing the commands for their help would import pandas, numpy and
        pydantic, a second before the list appears."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = [(name, _short_help(name, limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _short_help(name: str, limit: int) -> str:
    """The command's short help (click's: its docstring's first sentence, cut to ``limit``), from the
    docstring of the function its lazy target names; a command defined otherwise is imported."""
    module_name, _, attribute = COMMAND_TARGETS.get(name, "").partition(":")
    spec = importlib.util.find_spec(module_name) if module_name else None
    if spec is not None and spec.origin is not None and spec.origin.endswith(".py"):
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == attribute:
                docstring = ast.get_docstring(node, clean=False)
                if docstring:  # the help click takes from the function
                    return click.Command(name, help=docstring).get_short_help_str(limit)
    return COMMANDS.get(name).get_short_help_str(limit)


# without a command: the help, on stdout, exit 0 (click's default is a usage error, exit 2)
@click.group(cls=LazyGroup, invoke_without_command=True)
# the installed distribution's version (importlib.metadata; written once, in pyproject.toml): `stilts 0.2.0`
@click.version_option(package_name="stilts", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx):
    """Intermediate-task training of multilingual encoders and zero-shot cross-lingual evaluation."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def main(argv=None) -> None:
    """Entry point: bad input gives one line on stderr and exit 2; no traceback. SIGINT and SIGTERM
    stop a run after saving what it can (`stilts.core.interrupts`), say what was kept, and exit 128 + the
    signal's number, as a shell reports a process the signal ended."""
    try:
        with handling_signals():
            cli.main(args=argv, prog_name="stilts", standalone_mode=False)
    except Interrupted as stop:
        click.echo(str(stop), err=True)
        sys.exit(stop.exit_code)
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
    except click.Abort as abort:  # click's name for a KeyboardInterrupt, or for the end of input at a prompt
        if isinstance(abort.__context__, KeyboardInterrupt):
            click.echo(str(Interrupted(signal.SIGINT)), err=True)
            sys.exit(128 + signal.SIGINT)
        click.echo("aborted", err=True)
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
