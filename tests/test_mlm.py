"""Multilingual MLM: the corpus builder (alpha-smoothed sampling), masking, the MLM head, and an
end-to-end run with MLM as the intermediate task."""

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
import torch
import yaml
from helpers import run_cli

from stilts.core.errors import BadInput
from stilts.data.content import folder_sha256
from stilts.formats.masked_lm import IGNORE_INDEX, MASKED_LM, mask_tokens
from stilts.mlm.corpus import (
    build_corpus,
    plan_language,
    quotas,
    sampling_probabilities,
)
from stilts.mlm.languages import language_from_filename

NTREX_LANGUAGES = {
    "ar",
    "de",
    "el",
    "en",
    "es",
    "fi",
    "fr",
    "he",
    "hi",
    "id",
    "ja",
    "ko",
    "ru",
    "sw",
    "th",
    "tr",
    "vi",
    "zh",
}


def write_sentences(path: Path, sentences) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{sentence}\n" for sentence in sentences), encoding="utf-8")
    return path


def read_pairs(folder: Path, names) -> list[tuple[str, str]]:
    pairs = []
    for name in names:
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            language, sentence = line.split("\t", 1)
            pairs.append((language, sentence))
    return pairs


def train_pairs(folder: Path) -> list[tuple[str, str]]:
    return read_pairs(folder, json.loads((folder / "manifest.json").read_text())["shards"])


@pytest.fixture
def two_languages(tmp_path):
    """English 2000 sentences, Swahili 20 (100:1), with blank lines that must be skipped."""
    folder = tmp_path / "sentences"
    english = [f"english sentence {i}" for i in range(2000)]
    english[10:10] = ["", "   "]
    write_sentences(folder / "en.txt", english)
    write_sentences(folder / "wiki.swa.txt", [f"sentensi ya kiswahili {i}" for i in range(20)] + [""])
    return folder


# --- sampling --------------------------------------------------------------------------------------


def test_alpha_smoothing_samples_100_to_1_at_about_4_to_1(two_languages, tmp_path):
    p, q = sampling_probabilities({"en": 2000, "sw": 20}, 0.3)
    expected_en = (2000 / 2020) ** 0.3 / ((2000 / 2020) ** 0.3 + (20 / 2020) ** 0.3)
    assert q["en"] == pytest.approx(expected_en) and q["sw"] == pytest.approx(1 - expected_en)
    assert q["en"] / q["sw"] == pytest.approx(100**0.3)  # ≈ 3.98
    assert p["en"] == pytest.approx(2000 / 2020)

    summary = build_corpus(
        [two_languages], tmp_path / "corpus", alpha=0.3, sentences=1000, seed=1, dev_sentences=0, log=lambda _: None
    )
    counts = Counter(language for language, _ in train_pairs(tmp_path / "corpus"))
    assert counts == {"en": round(1000 * expected_en), "sw": 1000 - round(1000 * expected_en)}  # 799 : 201
    assert counts["en"] / counts["sw"] == pytest.approx(3.98, abs=0.03)
    assert summary["languages"]["sw"]["upsampled"] and not summary["languages"]["en"]["upsampled"]


def test_quotas_sum_exactly_to_the_total():
    q = {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    assert sum(quotas(q, 1000).values()) == 1000
    assert sorted(quotas(q, 1000).values()) == [333, 333, 334]
    assert quotas({"a": 0.7, "b": 0.3}, 10) == {"a": 7, "b": 3}


def test_alpha_one_is_proportional_and_zero_uniform():
    counts = {"en": 900, "de": 100}
    assert sampling_probabilities(counts, 1.0)[1] == pytest.approx({"en": 0.9, "de": 0.1})
    assert sampling_probabilities(counts, 0.0)[1] == pytest.approx({"en": 0.5, "de": 0.5})


def test_plan_holds_dev_out_and_upsamples_by_full_passes():
    plan = plan_language("sw", available=20, train_quota=201, dev_quota=2, seed=1)
    assert len(plan.dev) == 2 and plan.passes == 11 and len(plan.extra) == 201 - 11 * 18
    assert not set(plan.dev.tolist()) & set(plan.extra.tolist())
    assert plan.train_count == 201 and not plan.dev_cut
    capped = plan_language("sw", available=20, train_quota=201, dev_quota=8, seed=1)
    assert len(capped.dev) == 2 and capped.dev_requested == 8 and capped.dev_cut  # 10% of 20 lines
    assert len(plan_language("xx", available=9, train_quota=5, dev_quota=3, seed=1).dev) == 0
    small = plan_language("en", available=2000, train_quota=50, dev_quota=5, seed=1)
    assert small.passes == 0 and len(small.extra) == 50 == len(set(small.extra.tolist()))
    assert max(small.extra.tolist() + small.dev.tolist()) < 2000


# --- the corpus folder -----------------------------------------------------------------------------


def test_corpus_counts_manifest_and_held_out_dev(two_languages, tmp_path, capsys):
    out = tmp_path / "corpus"
    code, stdout, _ = run_cli(
        [
            "mlm-corpus",
            "--input",
            two_languages,
            "--sentences",
            500,
            "--output",
            out,
            "--dev-sentences",
            40,
            "--shard-size",
            200,
            "--seed",
            3,
        ],
        capsys,
    )
    assert code == 0 and "upsampled" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["shards"] == ["shard-00000.txt", "shard-00001.txt", "shard-00002.txt"]
    assert sorted(path.name for path in out.iterdir()) == ["dev.txt", "manifest.json", *manifest["shards"]]
    assert (manifest["alpha"], manifest["seed"], manifest["sentences"]) == (0.3, 3, 500)
    # Swahili's q share of the 40 dev sentences is 8, cut to 2 (10% of its 20 lines)
    assert (manifest["requested_dev_sentences"], manifest["dev_sentences"]) == (40, 34)
    en, sw = manifest["languages"]["en"], manifest["languages"]["sw"]
    assert (en["dev"], en["dev_cut"], sw["dev"], sw["dev_requested"], sw["dev_cut"]) == (32, False, 2, 8, True)
    assert (en["available"], sw["available"]) == (2000, 20)  # blank lines are not sentences
    assert en["files"][0].endswith("en.txt") and sw["files"][0].endswith("wiki.swa.txt")
    assert en["sampled"] + sw["sampled"] == 500
    assert en["q"] == pytest.approx(sampling_probabilities({"en": 2000, "sw": 20}, 0.3)[1]["en"])

    train = train_pairs(out)
    dev = read_pairs(out, ["dev.txt"])
    assert len(train) == 500 and len(dev) == 34
    assert [len((out / name).read_text().splitlines()) for name in manifest["shards"]] == [200, 200, 100]
    assert Counter(language for language, _ in train) == {"en": en["sampled"], "sw": sw["sampled"]}
    assert not {s for _, s in dev} & {s for _, s in train}  # dev is held out
    assert all(sentence.strip() for _, sentence in train)
    # shuffled: the English lines are not in file order
    english = [int(s.rsplit(" ", 1)[1]) for language, s in train if language == "en"]
    assert english != sorted(english)


def test_upsampled_language_repeats_every_line_evenly(two_languages, tmp_path):
    build_corpus([two_languages], tmp_path / "corpus", sentences=1000, dev_sentences=10, log=lambda _: None)
    manifest = json.loads((tmp_path / "corpus" / "manifest.json").read_text())
    swahili = Counter(s for language, s in train_pairs(tmp_path / "corpus") if language == "sw")
    sw = manifest["languages"]["sw"]
    assert sum(swahili.values()) == sw["sampled"]
    assert len(swahili) == sw["available"] - sw["dev"]  # every non-dev line is used
    assert set(swahili.values()) <= {sw["passes"], sw["passes"] + 1}
    english = Counter(s for language, s in train_pairs(tmp_path / "corpus") if language == "en")
    assert set(english.values()) == {1}  # the big language is sampled without replacement


def test_small_language_keeps_most_of_its_lines_for_training(tmp_path, capsys):
    """10,000 English lines + 100 Swahili at alpha 0.3: Swahili's dev quota (about 201 of the default
    1,000) would take 99 of its 100 lines and leave one sentence repeated ~1,004 times for training.
    The dev share of a language is capped at 10% of its lines; the manifest and the summary say so."""
    folder = tmp_path / "sentences"
    write_sentences(folder / "en.txt", [f"english sentence {i}" for i in range(10_000)])
    write_sentences(folder / "sw.txt", [f"sentensi ya kiswahili {i}" for i in range(100)])
    out = tmp_path / "corpus"
    code, stdout, stderr = run_cli(
        ["mlm-corpus", "--input", folder, "--alpha", 0.3, "--sentences", 5000, "--output", out], capsys
    )
    assert code == 0, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    en, sw = manifest["languages"]["en"], manifest["languages"]["sw"]
    assert (sw["dev"], sw["dev_requested"], sw["dev_cut"]) == (10, 201, True)
    assert (en["dev"], en["dev_requested"], en["dev_cut"]) == (799, 799, False)
    assert manifest["requested_dev_sentences"] == 1000 and manifest["dev_sentences"] == 809

    train = train_pairs(out)
    swahili = Counter(s for language, s in train if language == "sw")
    english = Counter(s for language, s in train if language == "en")
    assert sum(swahili.values()) == sw["sampled"] == 1004
    assert len(swahili) == 90  # every non-dev Swahili line, each about 11 times
    assert len(english) == en["sampled"] == 3996  # no English line repeated
    dev = read_pairs(out, ["dev.txt"])
    assert Counter(language for language, _ in dev) == {"en": 799, "sw": 10}
    assert not {s for _, s in dev} & set(swahili)

    (sw_row,) = [line for line in stdout.splitlines() if line.split()[:1] == ["sw"]]
    assert "dev cut 201 -> 10" in sw_row and "upsampled" in sw_row
    (en_row,) = [line for line in stdout.splitlines() if line.split()[:1] == ["en"]]
    assert "cut" not in en_row
    assert "809 dev sentences (1000 requested" in stdout


def test_same_seed_same_corpus_other_seed_other_corpus(two_languages, tmp_path):
    def shards(seed, name):
        build_corpus(
            [two_languages],
            tmp_path / name,
            sentences=300,
            seed=seed,
            dev_sentences=20,
            shard_size=100,
            log=lambda _: None,
        )
        return [
            (tmp_path / name / f).read_bytes()
            for f in ("shard-00000.txt", "shard-00001.txt", "shard-00002.txt", "dev.txt")
        ]

    assert shards(1, "a") == shards(1, "b")
    assert shards(1, "a") != shards(2, "c")


def test_rebuild_replaces_a_corpus_but_not_another_folder(two_languages, tmp_path):
    out = tmp_path / "corpus"
    build_corpus([two_languages], out, sentences=100, dev_sentences=0, shard_size=30, log=lambda _: None)
    build_corpus([two_languages], out, sentences=50, dev_sentences=0, shard_size=30, log=lambda _: None)
    assert sorted(p.name for p in out.iterdir()) == ["dev.txt", "manifest.json", "shard-00000.txt", "shard-00001.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    other = tmp_path / "notes"
    write_sentences(other / "keep.md", ["mine"])
    with pytest.raises(BadInput, match="not a corpus folder"):
        build_corpus([two_languages], other, sentences=50, log=lambda _: None)


# --- languages and input errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, language",
    [
        ("de.txt", "de"),
        ("wiki.de.txt", "de"),
        ("de.wiki.txt", "de"),
        ("newstest2019-ref.deu.txt", "de"),
        ("newstest2019-ref.arb.txt", "ar"),
        ("newstest2019-ref.zho-CN.txt", "zh"),
        ("newstest2019-ref.swa.txt", "sw"),
        ("newstest2019-src.eng.txt", "en"),
        ("wiki.zh_TW.txt", "zh"),
        ("tatoeba.cmn.txt", "zh"),
        ("corpus.ger.txt", "de"),
        ("notes.txt", None),
        ("wiki.2019.txt", None),
        ("news.xyz.txt", None),
    ],
)
def test_language_from_file_name(name, language):
    assert language_from_filename(Path(name)) == language


def test_ntrex128_folder_languages(shared_data, tmp_path, capsys):
    """The real NTREX-128 folder: ISO 639-3 file names (arb, zho-CN, ...) -> ISO 639-1 languages; the
    README-like files in it (LANGUAGES.tsv, LICENSE.md) are not read."""
    out = tmp_path / "corpus"
    code, stdout, stderr = run_cli(
        [
            "mlm-corpus",
            "--input",
            shared_data / "mlm_corpus" / "ntrex128",
            "--sentences",
            360,
            "--dev-sentences",
            36,
            "--output",
            out,
        ],
        capsys,
    )
    assert code == 0, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["languages"]) == NTREX_LANGUAGES
    assert all(row["available"] == 1997 for row in manifest["languages"].values())
    assert all(row["q"] == pytest.approx(1 / 18) for row in manifest["languages"].values())  # equal sizes
    assert Counter(language for language, _ in train_pairs(out)) == {language: 20 for language in NTREX_LANGUAGES}
    assert manifest["languages"]["zh"]["files"][0].endswith("newstest2019-ref.zho-CN.txt")


def test_manifest_gives_languages(tmp_path):
    write_sentences(tmp_path / "data" / "first.txt", ["eins", "zwei"])
    write_sentences(tmp_path / "data" / "second.txt", ["un", "deux", "trois"])
    (tmp_path / "files.tsv").write_text("# file\tlanguage\ndata/first.txt\tdeu\ndata/second.txt\tfr\n")
    summary = build_corpus(
        [], tmp_path / "corpus", manifest=tmp_path / "files.tsv", sentences=10, dev_sentences=0, log=lambda _: None
    )
    assert {language: row["available"] for language, row in summary["languages"].items()} == {"de": 2, "fr": 3}


def test_input_errors_name_the_file_and_line(tmp_path, capsys):
    write_sentences(tmp_path / "unknown" / "sentences.txt", ["hello"])
    code, _, stderr = run_cli(["mlm-corpus", "--input", tmp_path / "unknown", "--output", tmp_path / "out"], capsys)
    assert code == 2 and "sentences.txt" in stderr and "language" in stderr and "Traceback" not in stderr

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "de.txt").write_bytes(b"gut\nschlecht \xff\xfe kodiert\n")
    code, _, stderr = run_cli(["mlm-corpus", "--input", bad, "--output", tmp_path / "out"], capsys)
    assert code == 2 and "de.txt: line 2: not valid UTF-8" in stderr
    assert not (tmp_path / "out").exists()

    (tmp_path / "files.tsv").write_text("bad/de.txt\tklingon\n")
    code, _, stderr = run_cli(
        ["mlm-corpus", "--manifest", tmp_path / "files.tsv", "--output", tmp_path / "out"], capsys
    )
    assert code == 2 and "files.tsv: line 1" in stderr


# --- masking ---------------------------------------------------------------------------------------

SPECIAL = (0, 1, 2, 3)  # <s> <pad> </s> <unk>
MASK_ID, VOCABULARY = 999, 1000


def random_batch(seed=0, rows=64, length=128):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, MASK_ID, (rows, length), generator=generator)
    lengths = torch.randint(length // 2, length + 1, (rows,), generator=generator)
    attention = (torch.arange(length)[None, :] < lengths[:, None]).long()
    ids[:, 0] = 0
    ids[torch.arange(rows), lengths - 1] = 2
    ids[attention == 0] = 1
    return ids, attention


def test_masking_statistics_follow_bert():
    ids, attention = random_batch()
    masked, labels = mask_tokens(ids, attention, special_ids=SPECIAL, mask_token_id=MASK_ID, vocabulary_size=VOCABULARY)
    maskable = attention.bool() & (ids > 3)
    chosen = labels != IGNORE_INDEX
    assert not (chosen & ~maskable).any()  # never a special token or padding
    assert (labels[chosen] == ids[chosen]).all()
    assert chosen.sum() / maskable.sum() == pytest.approx(0.15, abs=0.015)
    total = chosen.sum().item()
    as_mask = (masked[chosen] == MASK_ID).sum().item() / total
    unchanged = (masked[chosen] == ids[chosen]).sum().item() / total
    assert as_mask == pytest.approx(0.8, abs=0.03)
    assert unchanged == pytest.approx(0.1, abs=0.02)
    assert 1 - as_mask - unchanged == pytest.approx(0.1, abs=0.02)  # random tokens
    random_ids = masked[chosen & (masked != MASK_ID) & (masked != ids)]
    assert ((random_ids > 3) & (random_ids != MASK_ID)).all()  # random replacements are never special
    assert (masked[~chosen] == ids[~chosen]).all()


def test_masks_depend_on_the_batch_only():
    ids, attention = random_batch(seed=1)
    args = dict(special_ids=SPECIAL, mask_token_id=MASK_ID, vocabulary_size=VOCABULARY)
    first = mask_tokens(ids, attention, **args)
    torch.manual_seed(123)  # the global RNG plays no part
    second = mask_tokens(ids.clone(), attention, **args)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    reshuffled = mask_tokens(ids.flip(0), attention.flip(0), **args)  # same sentences, another batch
    assert not torch.equal(reshuffled[1].flip(0), first[1])


def test_collate_masks_real_tokenizer_output_and_never_specials(tiny_model):
    from transformers import AutoTokenizer

    from stilts.testing import shipped_sentences

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    features = MASKED_LM.featurize({"text": shipped_sentences()}, tokenizer, None, max_length=24)
    assert max(len(ids) for ids in features["input_ids"]) == 24  # truncated
    rows = [dict(zip(features, values)) for values in zip(*features.values())]
    batch = MASKED_LM.collate(rows, tokenizer)
    original = tokenizer.pad(rows, return_tensors="pt")["input_ids"]
    chosen = batch["labels"] != IGNORE_INDEX
    assert chosen.any()
    special = torch.isin(original, torch.tensor(tokenizer.all_special_ids))
    assert not (chosen & special).any()
    assert (batch["input_ids"][~chosen] == original[~chosen]).all()
    assert (batch["input_ids"] == tokenizer.mask_token_id).sum() > 0


# --- the head --------------------------------------------------------------------------------------


def tiny_masked_lm_checkpoint(tiny_model, folder: Path) -> Path:
    """The tiny model's architecture as XLMRobertaForMaskedLM (random weights, lm_head included)."""
    from transformers import AutoConfig, AutoTokenizer, XLMRobertaForMaskedLM

    torch.manual_seed(7)
    model = XLMRobertaForMaskedLM(AutoConfig.from_pretrained(tiny_model))
    with torch.no_grad():
        model.lm_head.bias.normal_()  # distinguishable from a fresh (zero) bias
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(folder)
    return folder


def mlm_batch(tokenizer):
    from stilts.testing import shipped_sentences

    features = MASKED_LM.featurize({"text": shipped_sentences()[:12]}, tokenizer, None, max_length=32)
    return MASKED_LM.collate([dict(zip(features, values)) for values in zip(*features.values())], tokenizer)


def test_head_is_tied_and_computes_logits_only_at_masked_positions(tiny_model):
    from stilts.training.model import load_encoder

    encoder, tokenizer = load_encoder(str(tiny_model))
    head = MASKED_LM.build_head(None, encoder.config.hidden_size)
    logs = []
    MASKED_LM.init_head(head, encoder, str(tiny_model), logs.append)
    assert logs == [f"  MLM head: fresh ({tiny_model}: no pretrained MLM head in the checkpoint)"]
    vocabulary = encoder.get_input_embeddings().num_embeddings
    # the head owns no vocabulary-by-hidden matrix: the decoder is the encoder's embedding matrix
    assert {name: tuple(p.shape) for name, p in head.state_dict().items()} == {
        "dense.weight": (64, 64),
        "dense.bias": (64,),
        "layer_norm.weight": (64,),
        "layer_norm.bias": (64,),
        "bias": (vocabulary,),
    }

    batch = mlm_batch(tokenizer)
    shapes = []
    head.register_forward_hook(lambda module, inputs, output: shapes.append(tuple(output.shape)))
    loss, outputs = MASKED_LM.forward(encoder, head, batch)
    masked = (batch["labels"] != IGNORE_INDEX).sum().item()
    assert shapes == [(masked, vocabulary)]  # never (batch, length, vocabulary)
    assert outputs.shape == (len(batch["input_ids"]), 3)
    assert outputs[:, 1].sum().item() == masked
    loss.backward()
    assert encoder.get_input_embeddings().weight.grad is not None  # trained through the tie too
    # the loss is the mean cross-entropy at the masked positions of the full logits
    with torch.no_grad():
        states = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        full = head(states.flatten(0, 1), encoder.get_input_embeddings().weight)
        expected = torch.nn.functional.cross_entropy(full, batch["labels"].flatten(), ignore_index=IGNORE_INDEX)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_pretrained_head_is_loaded_and_matches_transformers(tiny_model, tmp_path):
    from transformers import XLMRobertaForMaskedLM

    from stilts.training.model import load_encoder

    checkpoint = tiny_masked_lm_checkpoint(tiny_model, tmp_path / "with-head")
    encoder, tokenizer = load_encoder(str(checkpoint))
    head = MASKED_LM.build_head(None, encoder.config.hidden_size)
    logs = []
    MASKED_LM.init_head(head, encoder, str(checkpoint), logs.append)
    assert logs == [f"  MLM head: pretrained, from the RoBERTa/XLM-R lm_head weights of {checkpoint}"]

    reference = XLMRobertaForMaskedLM.from_pretrained(checkpoint).eval()
    encoder.eval()
    batch = mlm_batch(tokenizer)
    with torch.no_grad():
        expected = reference(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        _, outputs = MASKED_LM.forward(encoder, head, batch)
        positions = batch["labels"] != IGNORE_INDEX
        correct = expected[positions].argmax(-1) == batch["labels"][positions]
        states = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        ours = head(states[positions], encoder.get_input_embeddings().weight)
    torch.testing.assert_close(ours, expected[positions], rtol=1e-4, atol=1e-4)
    assert outputs[:, 0].sum().item() == correct.sum().item()


def test_pretrained_bert_head_is_loaded_too(tmp_path):
    """mBERT-style checkpoints keep their MLM head under cls.predictions.*"""
    from transformers import AutoModel, BertConfig, BertForMaskedLM

    torch.manual_seed(3)
    reference = BertForMaskedLM(
        BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ).eval()
    with torch.no_grad():
        reference.cls.predictions.bias.normal_()
    reference.save_pretrained(tmp_path)
    encoder = AutoModel.from_pretrained(tmp_path, add_pooling_layer=False).eval()
    head = MASKED_LM.build_head(None, 32)
    logs = []
    MASKED_LM.init_head(head, encoder, str(tmp_path), logs.append)
    assert "pretrained, from the BERT cls.predictions weights" in logs[0]
    ids = torch.randint(5, 120, (2, 9))
    with torch.no_grad():
        expected = reference(input_ids=ids).logits
        ours = head(encoder(input_ids=ids).last_hidden_state.flatten(0, 1), encoder.get_input_embeddings().weight)
    torch.testing.assert_close(ours, expected.flatten(0, 1), rtol=1e-4, atol=1e-4)


def test_predict_and_score_give_masked_token_accuracy():
    import datasets

    features = datasets.Dataset.from_dict({"example_index": [0, 1, 2]})
    outputs = [
        torch.tensor([3.0, 4.0, 2.0]).numpy(),
        torch.tensor([0.0, 2.0, 3.0]).numpy(),
        torch.tensor([1.0, 2.0, 1.0]).numpy(),
    ]
    predictions = MASKED_LM.predict(outputs, features, [{}, {}, {}], None)
    assert predictions[0] == {"correct": 3, "masked": 4, "nll": 2.0}
    scores = MASKED_LM.score(predictions, [{}, {}, {}], None, "mul")
    assert scores["accuracy"] == pytest.approx(50.0)
    assert scores["perplexity"] == pytest.approx(2.718281828 ** (6 / 8))


# --- the catalog entry and a run -------------------------------------------------------------------


def test_catalog_reads_a_corpus_folder(two_languages, tmp_path):
    from stilts.core.catalog import get_task
    from stilts.core.errors import MissingSplit
    from stilts.data.loading import load_examples

    task = get_task("mlm")
    assert task.phases == {"intermediate"} and len(task.languages) == 40 and task.metric == "accuracy"
    out = tmp_path / "corpus"
    build_corpus([two_languages], out, sentences=60, dev_sentences=8, shard_size=25, log=lambda _: None)
    train = load_examples(task, "train", task.source_language, {"mlm": str(out)})
    assert len(train) == 60 and set(train[0]) == {"id", "text", "language"}
    assert {e["language"] for e in train} == {"en", "sw"}
    assert len(load_examples(task, "dev", task.source_language, {"mlm": str(out)})) == 8
    assert {e["language"] for e in load_examples(task, "train", "sw", {"mlm": str(out)})} == {"sw"}
    with pytest.raises(MissingSplit):
        load_examples(task, "test", task.source_language, {"mlm": str(out)})
    with pytest.raises(BadInput, match="not on the Hub"):
        load_examples(task, "train", task.source_language, {})
    with pytest.raises(BadInput, match="not an MLM corpus"):
        load_examples(task, "train", task.source_language, {"mlm": str(two_languages)})


def test_mlm_intermediate_stage_runs_end_to_end(tiny_model, tiny_nli, tmp_path, capsys):
    from stilts.testing import shipped_sentences

    sentences = shipped_sentences()
    write_sentences(tmp_path / "sentences" / "en.txt", sentences[:10])
    write_sentences(tmp_path / "sentences" / "wiki.deu.txt", sentences[10:14])
    write_sentences(tmp_path / "sentences" / "fr.txt", sentences[14:18])
    corpus = tmp_path / "corpus"
    code, _, stderr = run_cli(
        ["mlm-corpus", "--input", tmp_path / "sentences", "--sentences", 64, "--dev-sentences", 9, "--output", corpus],
        capsys,
    )
    assert code == 0, stderr

    training = dict(learning_rate=1e-3, validate_every=2)
    config = {
        "name": "tiny_mlm",
        "model": str(tiny_model),
        "seed": 1,
        "data": {"mlm": str(corpus), "mnli": str(tiny_nli["mnli"]), "xnli": str(tiny_nli["xnli"])},
        "stages": [
            dict(kind="intermediate", tasks=["mlm"], max_steps=4, **training),
            dict(kind="target", task="xnli", batch_size=16, max_steps=4, **training),
            dict(kind="evaluate", task="xnli", max_examples=8),
        ],
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    code, stdout, stderr = run_cli(["run", tmp_path / "tiny.yaml", "--output-dir", tmp_path / "out"], capsys)
    assert code == 0, stderr
    assert "MLM head: fresh" in stdout
    (intermediate,) = (tmp_path / "out").glob("intermediate-*")
    resolved = json.loads((intermediate / "config.json").read_text())
    assert resolved["settings"]["tasks"] == ["mlm"] and resolved["data"]["mlm"] == str(corpus)
    assert resolved["settings"]["data"]["mlm"] == f"sha256:{folder_sha256(corpus)}"  # the corpus, by content
    metrics = json.loads((intermediate / "metrics.json").read_text())
    validations = metrics["training"]["validations"]
    assert validations and 0 <= validations[-1]["tasks"]["mlm"]["accuracy"] <= 100
    assert validations[-1]["tasks"]["mlm"]["perplexity"] > 1
    assert (intermediate / "heads" / "mlm.safetensors").is_file()
    with open(tmp_path / "out" / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and {(r["intermediate"], r["mlm"], r["target"]) for r in rows} == {("none", "true", "xnli")}
