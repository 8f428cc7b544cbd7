"""Names the dead-code check (`python -m vulture`, configured in pyproject.toml) must not report: each
is used where vulture cannot see it. Vulture matches by name only, so an entry is the bare name, as an
attribute (``_.name``) or a variable. Pydantic validators and click commands are left out by
decorator in pyproject.toml, not listed here.

A name that is reported and is not one of these kinds is dead, or used by tests only: delete it, or
move it into tests/ (or stilts.testing where tests and plugins share it).
"""

# Stage settings read by name from the settings dict (`model_dump()`), never as attributes: the YAML
# sets them, `stilts.pipeline.training_stage` and `stilts.training.adapters` read ``settings["max_steps"]``.
_.max_steps
_.validation_examples
_.max_train_examples
_.train_splits
_.peft
_.mixing_cap
_.mixing_temperature
_.model_selection
_.target_modules
_.on_end
_.max_translation_length

# Catalog declarations bound to a name like every other one (plugins import them); registering is
# what importing the module does (the entry points in pyproject.toml).
INTERMEDIATE
TARGET
EVALUATE
XTREME
XTREME_R
XGLUE
TOPICS
XCOPA

# Settings other libraries read: transformers' label maps in an exported config, the tokenizers
# backend's pipeline, the datasets library's offline switch.
_.id2label
_.label2id
_.pre_tokenizer
_.decoder
_.post_processor
_.HF_DATASETS_OFFLINE

# click calls it: the lazy group's `stilts --help` command list (stilts.cli.LazyGroup).
_.format_commands

# Public API of stilts.analysis.languages: the whole typology table as a DataFrame, for a reader's own analyses
# (`stilts table --group-languages` and `--distance` use the rest), tested in tests/test_analysis_languages.py.
language_table
