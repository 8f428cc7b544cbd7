"""`stilts predict RUN_OR_STAGE --output DIR`: prediction files of a trained run, in the submission layout
of each task's benchmark (XTREME's, or XGLUE's for XGLUE's tasks)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("source", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--output", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write them to."
)
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "dev", "test"]))
@click.option(
    "--data",
    "data",
    multiple=True,
    metavar="FOLDER | TASK=FOLDER",
    help="Where the files are: a folder with one folder per task (named like the task, or bucc2018, or "
    "XGLUE's NER, POS, ...: xglue_full_dataset), or one task's folder; repeatable. Default: where the "
    "stage read its data.",
)
@click.option("--languages", default=None, metavar="de,fr", help="Only these (default: every language the data has).")
@click.option("--task", "task_name", default=None, help="Only this task (a stage that trained several heads: which).")
@click.option("--pipeline", "pipelines", multiple=True, help="Only this pipeline's stages (repeatable).")
@click.option("--batch-size", default=None, type=click.IntRange(min=1), help="Default: 64 on CPU, 256 on a GPU.")
def predict(source, output, split, data, languages, task_name, pipelines, batch_size) -> None:
    """Predict SOURCE's tasks on a split of their files, labelled or not (XTREME's test files have no
    labels), and write the official prediction files: OUTPUT/<task>/<split>-<lang>.json for QA (a
    {question_id: answer} object), .tsv otherwise (one label, choice or line index a line; tags one a line
    with a blank line between sentences; BUCC's mined pairs). XGLUE's tasks are written in XGLUE's layout
    instead, OUTPUT/<TASK>/<lang>.prediction (NER, POS, NC, MLQA, XNLI, PAWSX, QADSM, WPR, QAM; WPR one
    score a line), which its xglue_evaluate.py reads with --split: one OUTPUT per split. SOURCE is a run
    folder (each complete evaluate stage in it), an evaluate stage (its settings and model) or a target
    stage. `stilts score` scores each file against its gold file."""
    from stilts.pipeline.predict import data_folders, predict_run, predictors_of

    predictors = predictors_of(source, task_name, pipelines)
    chosen = [code.strip() for code in languages.split(",") if code.strip()] if languages else None
    written = predict_run(
        predictors,
        output,
        split=split,
        languages=chosen,
        data=data_folders(data),
        batch_size=batch_size,
        log=click.echo,
    )
    for name, codes in written.items():
        click.echo(f"{name}: {len(codes)} languages ({' '.join(codes)})")
