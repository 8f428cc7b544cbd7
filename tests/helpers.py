"""Running the CLI in-process, as a user would from the shell."""

import pytest

from stilts.cli import main


def run_cli(args, capsys) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``stilts ARGS``."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err
