"""The names used everywhere (CLI, YAML, ``scores.csv``, tables), each written once.

Catalogs, scorers and reports import them from here instead of retyping them. This module imports
nothing: ``stilts table`` and ``stilts score`` read it without loading torch or the task catalog.
See docs/DESIGN.md, "Names used everywhere", and TASKS.md for the language lists.
"""

from __future__ import annotations

# ------------------------------------------------------------------------------------------ tasks

#: the 9 XTREME target tasks, in the order tables show them
XTREME_TARGETS = ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc", "tatoeba")
#: XTREME's submission folder of a task, where it is not the task's name (its evaluate.py reads
#: ``<folder>/<task>/test-<lang>.{json,tsv}``)
XTREME_SUBMISSION_FOLDERS = {"bucc": "bucc2018"}
#: intermediate tasks in the order tables list them (ANLI+'s parts, XTREME-R's commonsense tasks and MLM
#: after the paper's nine)
INTERMEDIATE_ORDER = (
    "anli_plus",
    "mnli",
    "qqp",
    "squad_v1",
    "squad_v2",
    "hellaswag",
    "ccg",
    "cosmosqa",
    "commonsenseqa",
    "snli",
    "anli_r1",
    "anli_r2",
    "anli_r3",
    "siqa",
    "copa",
    "mlm",
)
#: the intermediate name of a run without an intermediate stage
BASELINE = "none"

# -------------------------------------------------------------------------------------- languages
# ISO 639-1 codes, alphabetical, as XTREME evaluates each task (TASKS.md).

XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
PAWSX_LANGUAGES = ("de", "en", "es", "fr", "ja", "ko", "zh")
UDPOS_LANGUAGES = (
    "af",
    "ar",
    "bg",
    "de",
    "el",
    "en",
    "es",
    "et",
    "eu",
    "fa",
    "fi",
    "fr",
    "he",
    "hi",
    "hu",
    "id",
    "it",
    "ja",
    "kk",
    "ko",
    "mr",
    "nl",
    "pt",
    "ru",
    "ta",
    "te",
    "th",
    "tl",
    "tr",
    "ur",
    "vi",
    "yo",
    "zh",
)
#: the 40 XTREME languages: PAN-X has all of them (and the paper's MLM corpus covers them)
XTREME_LANGUAGES = (
    "af",
    "ar",
    "bg",
    "bn",
    "de",
    "el",
    "en",
    "es",
    "et",
    "eu",
    "fa",
    "fi",
    "fr",
    "he",
    "hi",
    "hu",
    "id",
    "it",
    "ja",
    "jv",
    "ka",
    "kk",
    "ko",
    "ml",
    "mr",
    "ms",
    "my",
    "nl",
    "pt",
    "ru",
    "sw",
    "ta",
    "te",
    "th",
    "tl",
    "tr",
    "ur",
    "vi",
    "yo",
    "zh",
)
PANX_LANGUAGES = XTREME_LANGUAGES
XQUAD_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
MLQA_LANGUAGES = ("ar", "de", "en", "es", "hi", "vi", "zh")
TYDIQA_LANGUAGES = ("ar", "bn", "en", "fi", "id", "ko", "ru", "sw", "te")
BUCC_LANGUAGES = ("de", "fr", "ru", "zh")
#: the 36 Tatoeba languages, each retrieved against English (so English is not one); XTREME has no
#: Tatoeba pairs for ms, my and yo
TATOEBA_LANGUAGES = tuple(code for code in XTREME_LANGUAGES if code not in ("en", "ms", "my", "yo"))

#: XCOPA (XTREME-R), the 11 languages of its validation and test sets. ht (Haitian Creole) and qu
#: (Quechua) are in no XTREME task; English is COPA, which XCOPA trains and validates on
XCOPA_LANGUAGES = ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")

#: task -> the languages it is scored in (the XTREME targets, XCOPA, and the English intermediate tasks
#: that `stilts score` scores)
TASK_LANGUAGES = {
    "xnli": XNLI_LANGUAGES,
    "pawsx": PAWSX_LANGUAGES,
    "udpos": UDPOS_LANGUAGES,
    "panx": PANX_LANGUAGES,
    "xquad": XQUAD_LANGUAGES,
    "mlqa": MLQA_LANGUAGES,
    "tydiqa": TYDIQA_LANGUAGES,
    "bucc": BUCC_LANGUAGES,
    "tatoeba": TATOEBA_LANGUAGES,
    "xcopa": XCOPA_LANGUAGES,
    "squad_v1": ("en",),
    "squad_v2": ("en",),
    "copa": ("en",),
}

# ---------------------------------------------------------------------------------------- metrics

#: a QA target keeps both, side by side, and counts as their mean where one number is needed
QA_METRICS = ("f1", "exact_match")
#: main metric(s) of each XTREME target (METHOD.md, "Target tasks and metrics"), and of XCOPA (XTREME-R),
#: so that `stilts table` need not load the catalog for it
TARGET_METRICS = {
    "xnli": ("accuracy",),
    "pawsx": ("accuracy",),
    "udpos": ("f1",),
    "panx": ("f1",),
    "xquad": QA_METRICS,
    "mlqa": QA_METRICS,
    "tydiqa": QA_METRICS,
    "bucc": ("f1",),
    "tatoeba": ("accuracy",),
    "xcopa": ("accuracy",),
}
QA_TARGETS = frozenset(target for target, metrics in TARGET_METRICS.items() if metrics == QA_METRICS)

# ------------------------------------------------------------------------------------- scores.csv

#: the columns of scores.csv, in order (docs/DESIGN.md)
SCORE_COLUMNS = ("pipeline", "intermediate", "mlm", "target", "seed", "split", "language", "metric", "value")
#: a row's identity: a rerun replaces the rows it wrote before instead of duplicating them
SCORE_KEY = SCORE_COLUMNS[:-1]
#: a run: one target trained after one configuration with one seed
RUN_KEYS = ["pipeline", "intermediate", "mlm", "target", "seed"]
#: a configuration: what a table row compares
CONFIG_KEYS = ["intermediate", "mlm"]
