"""Multiple-choice targets: XCOPA (XTREME-R), trained on English COPA.

XCOPA is COPA (premise, a cause/effect question, two alternatives) translated into 11 languages. It
trains on English COPA (`copa`, the 400 training questions) and validates on COPA's 100 dev questions
(XTREME-R's ``val-en.jsonl``), as XTREME-R's ``run_xcopa.py`` does; it is scored on the 100
validation questions of each language (``val-xx.jsonl``) and, where the labelled test sets are at
hand (the XCOPA release's ``xx/test.xx.jsonl``, the Hub), on the 500 test questions.

English is not one of its languages: XCOPA has none, the average over its languages is XTREME-R's,
and COPA's dev set is what early stopping picks the checkpoint on, so an English score would be the
selection set's.
"""

from __future__ import annotations

from stilts.core.catalog import MAIN, PARQUET_CONVERSION, HubSource, Parallel, Scoring, Task, register_task
from stilts.core.errors import MissingSplit
from stilts.data.readers.layout import FileLayout
from stilts.data.readers.multiple_choice import copa_row_to_example, read_xcopa
from stilts.formats.multiple_choice import MULTIPLE_CHOICE
from stilts.metrics.scoring import score_xcopa

#: the 11 languages of XCOPA's validation and test sets (ISO 639-1, alphabetical). ht (Haitian Creole) and
#: qu (Quechua) are in no XTREME task; English is COPA, which XCOPA trains and validates on
XCOPA_LANGUAGES = ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")

#: XTREME-R's download folder (``val-xx.jsonl``, ``test-xx.jsonl`` with labels withheld: `read_xcopa`
#: skips those) or the XCOPA release's ``data/`` folder (``xx/val.xx.jsonl``, ``xx/test.xx.jsonl``);
#: ``val-en.jsonl`` in XTREME-R's folder is COPA's dev set, the target stage's validation data
read_xcopa_folder = FileLayout(
    "XCOPA",
    {
        "dev": ("val-{language}.jsonl", "{language}/val.{language}.jsonl"),
        "test": ("{language}/test.{language}.jsonl", "test-{language}.jsonl"),
    },
    parse=read_xcopa,
)


def _xcopa_hub_config(language: str) -> str:
    """cambridgeltl/xcopa has one config per language and none for English: the target stage's
    validation on English (COPA's dev set) then finds no split and trains without early stopping."""
    if language not in XCOPA_LANGUAGES:
        raise MissingSplit(
            f"data.xcopa: the Hub dataset cambridgeltl/xcopa has no '{language}' config "
            f"({' '.join(XCOPA_LANGUAGES)}); COPA's English dev set is XTREME-R's val-en.jsonl in a local folder"
        )
    return language


XCOPA = register_task(
    Task(
        name="xcopa",
        format=MULTIPLE_CHOICE,
        phases=frozenset({"target", "evaluate"}),
        languages=XCOPA_LANGUAGES,
        metric="accuracy",
        description="XCOPA (XTREME-R): causal commonsense, premise + cause/effect question, 2 choices, "
        "11 languages; trains on English COPA (local: XTREME-R's val-xx.jsonl, or the release's xx/val.xx.jsonl "
        "and xx/test.xx.jsonl)",
        read_local=read_xcopa_folder,
        parallel=Parallel(
            "xcopa", {"dev": "id", "test": "id"}, translated_from={"dev": ("copa", "dev"), "test": ("copa", "test")}
        ),
        # one config per language, validation (100) and test (500) splits, label 0 = choice1, 1 = choice2
        hub=HubSource(
            "cambridgeltl/xcopa",
            config=_xcopa_hub_config,
            splits={"dev": "validation", "test": "test"},
            to_example=copa_row_to_example,
            # not confirmed whether main still is a loading script: its Parquet first, then the conversion
            revisions=(MAIN, PARQUET_CONVERSION),
        ),
        train_task="copa",
        main_metrics=("accuracy",),
        scoring=Scoring(score_xcopa),
    )
)
