"""Machine translation of task data: `stilts translate` writes a task's examples translated into another
language, used in pipelines as the intermediate task ``<task>@<lang>``; the ``translate_test`` stage kind
scores a target model on the evaluation data translated into English.

`fields` (what is text), `cache` (crash-safe translation cache), `translation` (model + loop),
`dataset` (the output folder), `bleu` (sacreBLEU check), `cli` (the command), `variants` (the
``<task>@<lang>`` family; the package's entry point), `evaluation` (the translate_test kind)."""
