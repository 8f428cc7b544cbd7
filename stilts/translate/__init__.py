"""Machine-translated intermediate-task data: `stilts translate` writes a task's examples translated
into another language, used in pipelines as the intermediate task ``<task>@<lang>``.

`fields` (what is text), `cache` (crash-safe translation cache), `translation` (model + loop),
`dataset` (the output folder), `bleu` (sacreBLEU check), `cli` (the command)."""
