"""`stilts mlm-corpus`: build a multilingual MLM corpus folder from one-sentence-per-line files."""

from __future__ import annotations

from pathlib import Path

import click

from stilts.core import defaults
from stilts.mlm.corpus import DEFAULT_DEV_SENTENCES, DEFAULT_SHARD_SIZE, MAX_DEV_FRACTION, build_corpus


@click.command("mlm-corpus")
@click.option(
    "--input",
    "inputs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Folder of one-sentence-per-line UTF-8 *.txt files (the language from each file name: "
    "de.txt, wiki.de.txt, newstest2019-ref.deu.txt), or a file; repeatable.",
)
@click.option(
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Corpus folder to write (replaced atomically when complete).",
)
@click.option(
    "--alpha",
    type=click.FloatRange(min=0),
    default=defaults.MLM_LANGUAGE_ALPHA,
    show_default=True,
    help="Language sampling exponent: q_i ∝ p_i^alpha (1 = proportional, 0 = uniform).",
)
@click.option(
    "--sentences",
    type=click.IntRange(min=1),
    default=defaults.MLM_CORPUS_SENTENCES,
    show_default=True,
    help="Training sentences in total, over all languages.",
)
@click.option("--seed", type=int, default=defaults.SEED, show_default=True)
@click.option(
    "--manifest",
    type=click.Path(path_type=Path),
    help="TSV of file<TAB>language (paths relative to the manifest); its language wins over the file name.",
)
@click.option(
    "--dev-sentences",
    type=click.IntRange(min=0),
    default=DEFAULT_DEV_SENTENCES,
    show_default=True,
    help=f"Held-out sentences written to dev.txt (never in the training shards), shared by q "
    f"like the training sentences; a language gives up at most {float(MAX_DEV_FRACTION):.0%} "
    f"of its lines.",
)
@click.option(
    "--shard-size",
    type=click.IntRange(min=1),
    default=DEFAULT_SHARD_SIZE,
    show_default=True,
    help="Lines per training shard.",
)
def mlm_corpus(inputs, output, alpha, sentences, seed, manifest, dev_sentences, shard_size):
    """Sample an MLM corpus across languages with alpha-smoothed probabilities (XLM; alpha = 0.3 and
    2M sentences in Phang et al. 2020): shards of `language<TAB>sentence` lines, dev.txt and
    manifest.json."""
    if not inputs and manifest is None:
        raise click.UsageError("give --input and/or --manifest")
    summary = build_corpus(
        list(inputs),
        output,
        alpha=alpha,
        sentences=sentences,
        seed=seed,
        manifest=manifest,
        dev_sentences=dev_sentences,
        shard_size=shard_size,
        log=lambda message: click.echo(message, err=True),
    )
    cut = [language for language, row in summary["languages"].items() if row["dev_cut"]]
    # a small language's dev share is capped so that most of its lines stay for training
    dev_note = (
        f" ({summary['requested_dev_sentences']} requested; cut for {len(cut)} of "
        f"{len(summary['languages'])} languages, at most {summary['max_dev_fraction']:.0%} of a "
        f"language's lines)"
        if cut
        else ""
    )
    click.echo(
        f"{output}: {summary['sentences']} training sentences in {len(summary['shards'])} shard(s), "
        f"{summary['dev_sentences']} dev sentences{dev_note}, {len(summary['languages'])} languages "
        f"(alpha {alpha:g}, seed {seed})"
    )
    click.echo(f"  {'language':<9}{'available':>11}{'p':>8}{'q':>8}{'sampled':>10}{'dev':>6}")
    for language, row in summary["languages"].items():
        notes = []
        if row["upsampled"]:
            notes.append(f"upsampled x{row['sampled'] / max(row['available'] - row['dev'], 1):.1f}")
        if row["dev_cut"]:
            notes.append(f"dev cut {row['dev_requested']} -> {row['dev']}")
        click.echo(
            f"  {language:<9}{row['available']:>11}{row['p']:>8.4f}{row['q']:>8.4f}{row['sampled']:>10}"
            f"{row['dev']:>6}" + "".join(f"  {note}" for note in notes)
        )
