"""The names used everywhere (CLI, YAML, ``scores.csv``, tables), each written once.

Catalogs, scorers and reports import them from here instead of retyping them. This module imports
nothing: ``stilts table`` and ``stilts score`` read it without loading torch or the task catalog.
See docs/concepts.md, "Names used everywhere", and docs/tasks.md for the language lists.
"""

from __future__ import annotations

# ------------------------------------------------------------------------------------------ tasks

#: the 9 XTREME target tasks, in the order tables show them
XTREME_TARGETS = ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc", "tatoeba")
#: XTREME's submission folder of a task, where it is not the task's name (its evaluate.py reads
#: ``<folder>/<task>/test-<lang>.{json,tsv}``)
XTREME_SUBMISSION_FOLDERS = {"bucc": "bucc2018"}
#: XGLUE's 9 understanding tasks, in the order of the XGLUE paper's tables (NER POS NC MLQA XNLI PAWS-X
#: QADSM WPR QAM); MLQA, XNLI and PAWS-X are XGLUE's views of them (its files, languages and scores)
XGLUE_TARGETS = (
    "xglue_ner",
    "xglue_pos",
    "xglue_nc",
    "xglue_mlqa",
    "xglue_xnli",
    "xglue_pawsx",
    "xglue_qadsm",
    "xglue_wpr",
    "xglue_qam",
)
#: each XGLUE task's folder, in its release (``xglue_full_dataset/<FOLDER>/``) and in a submission: XGLUE's
#: evaluation/xglue_evaluate.py reads ``<prediction_dir>/<FOLDER>/<lang>.prediction``
XGLUE_SUBMISSION_FOLDERS = {
    "xglue_ner": "NER",
    "xglue_pos": "POS",
    "xglue_nc": "NC",
    "xglue_mlqa": "MLQA",
    "xglue_xnli": "XNLI",
    "xglue_pawsx": "PAWSX",
    "xglue_qadsm": "QADSM",
    "xglue_wpr": "WPR",
    "xglue_qam": "QAM",
}
#: a benchmark -> the targets its score is the unweighted mean of (`stilts table --best`)
BENCHMARKS = {"xtreme": XTREME_TARGETS, "xglue": XGLUE_TARGETS}
#: how a benchmark is written in tables
BENCHMARK_LABELS = {"xtreme": "XTREME", "xglue": "XGLUE"}
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
# ISO 639-1 codes, alphabetical, as XTREME evaluates each task (docs/tasks.md).

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

# XGLUE (docs/tasks.md, XGLUE): the languages its evaluation/xglue_evaluate.py scores (``task2lg``); its
# MLQA and XNLI are MLQA's and XNLI's languages above
XGLUE_NER_LANGUAGES = ("de", "en", "es", "nl")
#: 18: the Hub's loading script has 17 (no pt); the official evaluator scores pt (and pl) too
XGLUE_POS_LANGUAGES = (
    "ar",
    "bg",
    "de",
    "el",
    "en",
    "es",
    "fr",
    "hi",
    "it",
    "nl",
    "pl",
    "pt",
    "ru",
    "th",
    "tr",
    "ur",
    "vi",
    "zh",
)
XGLUE_NC_LANGUAGES = ("de", "en", "es", "fr", "ru")
XGLUE_PAWSX_LANGUAGES = ("de", "en", "es", "fr")
XGLUE_QADSM_LANGUAGES = ("de", "en", "fr")
XGLUE_WPR_LANGUAGES = ("de", "en", "es", "fr", "it", "pt", "zh")
XGLUE_QAM_LANGUAGES = ("de", "en", "fr")

#: task -> the languages it is scored in (the XTREME targets, XCOPA, the XGLUE targets, and the English
#: intermediate tasks that `stilts score` scores)
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
    "xglue_ner": XGLUE_NER_LANGUAGES,
    "xglue_pos": XGLUE_POS_LANGUAGES,
    "xglue_nc": XGLUE_NC_LANGUAGES,
    "xglue_mlqa": MLQA_LANGUAGES,
    "xglue_xnli": XNLI_LANGUAGES,
    "xglue_pawsx": XGLUE_PAWSX_LANGUAGES,
    "xglue_qadsm": XGLUE_QADSM_LANGUAGES,
    "xglue_wpr": XGLUE_WPR_LANGUAGES,
    "xglue_qam": XGLUE_QAM_LANGUAGES,
    "squad_v1": ("en",),
    "squad_v2": ("en",),
    "copa": ("en",),
}

# ---------------------------------------------------------------------------------------- metrics

#: a QA target keeps both, side by side, and counts as their mean where one number is needed
QA_METRICS = ("f1", "exact_match")
#: XGLUE's Web Page Ranking metric: nDCG over the pages of each query (`stilts.metrics.ranking`)
NDCG = "ndcg"
#: main metric(s) of each XTREME target (docs/method.md, "Target tasks and metrics"), of XCOPA (XTREME-R) and of
#: the XGLUE targets, so that `stilts table` need not load the catalog for them. XGLUE's are what its
#: evaluation/xglue_evaluate.py reports: MLQA F1 alone, POS seqeval *precision* (token accuracy is kept
#: beside it), WPR nDCG
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
    "xglue_ner": ("f1",),
    "xglue_pos": ("precision",),
    "xglue_nc": ("accuracy",),
    "xglue_mlqa": ("f1",),
    "xglue_xnli": ("accuracy",),
    "xglue_pawsx": ("accuracy",),
    "xglue_qadsm": ("accuracy",),
    "xglue_wpr": (NDCG,),
    "xglue_qam": ("accuracy",),
}
QA_TARGETS = frozenset(target for target, metrics in TARGET_METRICS.items() if metrics == QA_METRICS)

# ------------------------------------------------------------------------------------- scores.csv

#: the column naming the evaluate stage that wrote a row: its folder in the run folder,
#: ``<name>-<fingerprint[:8]>``. Last, so that the columns before it keep the places they had in files
#: written before it existed; such files are still read, their rows naming no stage
STAGE = "stage"
#: a column after SCORE_COLUMNS, in files that have a marked row: "true" for a row scored on examples the
#: model trained on, or on translations of them (an evaluate stage with allow_overlap, `stilts.overlap`),
#: which is not zero-shot; empty for the others
TRAINED_ON = "trained_on"
#: the columns of scores.csv, in order (docs/concepts.md, "scores.csv")
SCORE_COLUMNS = ("pipeline", "intermediate", "mlm", "target", "seed", "split", "language", "metric", "value", STAGE)
#: a row's identity: a rerun replaces the rows it wrote before instead of duplicating them
SCORE_KEY = ("pipeline", "intermediate", "mlm", "target", "seed", "split", "language", "metric")
#: a run: one target trained after one configuration with one seed
RUN_KEYS = ["pipeline", "intermediate", "mlm", "target", "seed"]
#: a configuration: what a table row compares
CONFIG_KEYS = ["intermediate", "mlm"]


def configuration_name(intermediate: str, mlm: bool) -> str:
    """A configuration (scores.csv's intermediate and mlm) as one name, ``mnli`` or ``mnli+mlm``: how
    messages name it and how a sweep's pipeline names begin (`stilts table --by pipeline` reads them)."""
    return f"{intermediate}+mlm" if mlm else intermediate


#: `stilts table --by`: the columns that name a configuration. By pipeline, a row is one pipeline's runs
#: (its seeds: a re-run with another seed keeps the name; a sweep's names count without their target
#: and seed), so that runs differing in something other than the intermediate task (a target stage's
#: settings, a sweep's variants) can be compared
CONFIG_KEYS_BY = {"intermediate": CONFIG_KEYS, "pipeline": ["pipeline"]}
