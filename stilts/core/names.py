"""The names shared by catalogs, stages and reports (CLI, YAML, ``scores.csv``, tables), each written once.

Facts of one task (its languages, metrics, benchmark, paper settings) are not here but in the task's
declaration (`stilts.core.catalog.Task`); a benchmark's targets in its `stilts.core.catalog.Benchmark`. This
module imports nothing. See docs/concepts.md, "Names used everywhere".
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------- configurations

#: the intermediate name of a run without an intermediate stage
BASELINE = "none"
#: the masked-LM task's name (`stilts.mlm.catalog` declares the task): it co-trains in intermediate
#: stages, and scores.csv's ``mlm`` column says whether a configuration trained it
MLM_TASK = "mlm"

# -------------------------------------------------------------------------------------- languages

#: the 40 XTREME languages (ISO 639-1, alphabetical): PAN-X has all of them, Tatoeba all but four, and the
#: paper's MLM corpus covers them
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

# ---------------------------------------------------------------------------------------- metrics

#: a QA target keeps both, side by side, and counts as their mean where one number is needed
QA_METRICS = ("f1", "exact_match")
#: XGLUE's Web Page Ranking metric: nDCG over the pages of each query (`stilts.metrics.ranking`)
NDCG = "ndcg"

# ---------------------------------------------------------------------------- translated data

#: ``<task>@<lang>``: a task's data machine-translated into another language (`stilts translate`, or a
#: benchmark's released translations); `stilts.translate.variants` makes these tasks
TRANSLATED_MARK = "@"
#: ``<task>@all``: as a data source, the folder of the task's translations into each of its languages
#: (one subfolder per language, or a release's files); as a target stage's ``translate_train``, English
#: and every language of the task (translate-train-all)
ALL_LANGUAGES = "all"
#: the setting of a model whose target stage trained on machine translations of its training data:
#: ``translate-train-<languages>`` (``translate-train-de``, ``translate-train-en+de``) or
#: ``translate-train-all``, in scores.csv's ``intermediate`` after the configuration (``none/translate-train-de``)
TRANSLATE_TRAIN = "translate-train"

# ------------------------------------------------------------------------------------- tables

#: a run: one target trained after one configuration with one seed
RUN_KEYS = ["pipeline", "intermediate", "mlm", "target", "seed"]

#: scores.csv's `intermediate` of a model that is not one target run of a configuration: the
#: configuration, this separator and the setting, e.g. ``mnli/seed-average`` (so that a table, or any
#: script grouping by the column, never pools such rows with the configuration's runs as its seeds)
SETTING_SEPARATOR = "/"
#: the setting of the average of a configuration's seed runs (an `average` stage); its rows' `seed` is
#: the seeds averaged, joined by '+'
SEED_AVERAGE = "seed-average"
#: the setting of a model fine-tuned further on k examples of each language (a `few_shot` stage):
#: ``<k>-shot``; its rows' `seed` is the run's seed and the shot set, ``1/set0``
SHOTS_SUFFIX = "-shot"
#: the setting of a model scored on its task's evaluation sets machine-translated into the task's source
#: language (a `translate_test` stage): ``mnli/translate-test``; its rows' `seed` is the run's
TRANSLATE_TEST = "translate-test"


def with_setting(intermediate: str, setting: str) -> str:
    """``mnli`` and ``seed-average`` -> ``mnli/seed-average``."""
    return f"{intermediate}{SETTING_SEPARATOR}{setting}" if setting else intermediate


def split_setting(intermediate: str) -> tuple[str, str]:
    """``mnli/seed-average`` -> (``mnli``, ``seed-average``); ``mnli`` -> (``mnli``, "")."""
    configuration, _, setting = intermediate.partition(SETTING_SEPARATOR)
    return configuration, setting


def base_seed(seed) -> str:
    """The seed of the run a scores.csv `seed` belongs to: ``1`` of ``1`` and of ``1/set0`` (a shot set
    of seed 1's run)."""
    return str(seed).partition(SETTING_SEPARATOR)[0]


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
