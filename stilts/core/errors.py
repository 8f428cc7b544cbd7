"""Errors a user can fix. The CLI turns them into one line on stderr and exit code 2."""


class BadInput(Exception):
    """Bad config, data or command-line input.

    The message must name where the problem is (file, field path or line number), e.g.
    ``pipelines/x.yaml: stages[0].task: unknown task 'mnlj' (did you mean 'mnli'?)``.
    """


class MissingSplit(BadInput):
    """A data source has no file (or Hub split) for the requested split or language. Stages that can
    do without it (an evaluation over the languages the data has, validation) catch it."""


class Unlabelled(MissingSplit):
    """A split's file is there but its labels are not (XTREME blanks its test sets): evaluation skips it
    as missing; `stilts predict` takes its ``examples`` (labels None), for which it is the normal case."""

    def __init__(self, message: str, examples: list[dict]):
        super().__init__(message)
        self.examples = examples


class RunFailed(Exception):
    """A run that stopped for a reason that is not bad input, e.g. a loss that became NaN. The CLI
    prints the message as one line and exits 1; what was saved before (checkpoints) stays."""


def one_line(error: BaseException) -> str:
    """The first line of an error's message (its type's name if it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def did_you_mean(word: str, choices) -> str:
    """A ' (did you mean 'x'?)' suffix for the closest choice, or ''."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def is_hub_outage(error: BaseException) -> bool:
    """Whether a failed Hub call failed for want of a connection (the Hub or the network is down),
    rather than for something the user can fix (a wrong id or config, offline mode with nothing
    cached): the first is a run failure (exit 1), the second bad input (exit 2)."""
    import os

    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False  # offline on purpose: the fix is a local folder
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (ConnectionError, TimeoutError)) or any(
            word in type(seen).__name__ for word in ("Connect", "Timeout")
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
