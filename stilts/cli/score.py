"""``stilts score``: official-script metrics of one prediction file, printed as one JSON object."""

from __future__ import annotations

import json

import click

from stilts.core.errors import BadInput


def _float(option: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise BadInput(f"{option}: '{value}' is not a number") from None


@click.command("score")
@click.option(
    "--task",
    required=True,
    help="A task whose declaration says how to score it, as `stilts tasks` names it: XTREME's and XGLUE's "
    "targets, xcopa, copa, squad_v1, squad_v2, or a plugin's (an unknown task is answered with the list).",
)
@click.option("--language", required=True, help="ISO 639-1 code of the evaluated language, e.g. de.")
@click.option("--gold", "gold", required=True, metavar="FILE", help="Gold data in the task's original release format.")
@click.option(
    "--predictions",
    required=True,
    metavar="FILE",
    help="QA: JSON {question_id: answer}; xnli/pawsx: one label per line; udpos/panx: one "
    "tag per line, blank line between sentences; tatoeba: one line per English sentence, "
    "the 0-based index of the non-English sentence it retrieves; bucc: "
    "source_id<TAB>target_id<TAB>score candidates, those naming a sentence that "
    "occurs twice on its side dropped (XTREME maps candidates to ids by text), or mined "
    "source_id<TAB>target_id pairs (XTREME's submission files), scored as they are; xcopa/copa: "
    "one line per question, the 0-based index of the chosen alternative (0 = choice1). XGLUE: its "
    "{TASK}/{lang}.prediction files: a label a line (nc, qadsm, qam, xnli, pawsx), a tag a line with a blank "
    "line between sentences, short sentences padded with O (ner, pos), one score a line (wpr: nDCG over "
    "each query's pages), JSON (mlqa).",
)
@click.option(
    "--threshold",
    default=None,
    metavar="X",
    help="bucc: mine at this score instead of the best-F1 threshold; squad_v2: the "
    "no-answer probability threshold (with --na-probs).",
)
@click.option(
    "--na-probs",
    default=None,
    metavar="FILE",
    help="squad_v2: JSON {question_id: no-answer probability}; adds the best-threshold search.",
)
def score(task, language, gold, predictions, threshold, na_probs):
    """Score PREDICTIONS against GOLD with the official scripts' semantics (0-100).

    As the official scripts do, QA predictions (and no-answer probabilities) for ids that are not gold
    questions of --language are ignored, with a warning; a file with none is refused.
    """
    from stilts.metrics.scoring import score as run_score

    result = run_score(task, language, gold, predictions, _float("--threshold", threshold), na_probs)
    if result.get("unanswered"):
        click.echo(
            f"warning: {predictions}: {result['unanswered']} of {result['count']} questions have "
            f"no prediction and score 0",
            err=True,
        )
    for key, path in (("ignored", predictions), ("na_probs_ignored", na_probs)):
        if result.get(key):
            click.echo(
                f"warning: {path}: ignored {result[key]} of its question ids: not gold questions "
                f"(--language {language})",
                err=True,
            )
    click.echo(json.dumps(result, ensure_ascii=False))
