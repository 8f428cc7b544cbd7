"""Errors a user can fix. The CLI turns them into one line on stderr and exit code 2."""


class BadInput(Exception):
    """Bad config, data or command-line input.

    The message must name where the problem is (file, field path or line number), e.g.
    ``pipelines/x.yaml: stages[0].task: unknown task 'mnlj' (did you mean 'mnli'?)``.
    """


class RunFailed(Exception):
    """A run that stopped for a reason that is not bad input, e.g. a loss that became NaN. The CLI
    prints the message as one line and exits 1; what was saved before (checkpoints) stays."""


def did_you_mean(word: str, choices) -> str:
    """A ' (did you mean 'x'?)' suffix for the closest choice, or ''."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
