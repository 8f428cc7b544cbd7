"""A mixture of intermediate tasks of different formats plus MLM: one encoder, one head per task,
trained together with the printed sampling rates, then handed to a target stage."""

import csv
import json
import re

import pytest
import yaml
from helpers import run_cli

from stilts.testing import TINY_QA, shipped_sentences, write_hellaswag, write_squad

CAP = 20  # small, so the cap binds for MNLI (96 examples) and the MLM corpus


@pytest.fixture(scope="module")
def mixture_run(tmp_path_factory, tiny_model, tiny_nli):
    folder = tmp_path_factory.mktemp("mixture")
    write_squad(folder / "squad" / "train-v1.1.json", TINY_QA["en"] * 4)
    write_squad(folder / "squad" / "dev-v1.1.json", TINY_QA["en"])
    hellaswag = write_hellaswag(folder / "hellaswag")
    sentences = folder / "sentences"
    sentences.mkdir()
    (sentences / "en.txt").write_text("\n".join(shipped_sentences()[:10]) + "\n")
    (sentences / "de.txt").write_text("\n".join(shipped_sentences()[10:14]) + "\n")
    return folder, hellaswag, sentences, tiny_model, tiny_nli


def test_three_formats_plus_mlm_train_together_and_hand_over_the_encoder(mixture_run, capsys):
    folder, hellaswag, sentences, tiny_model, tiny_nli = mixture_run
    code, _, stderr = run_cli(
        ["mlm-corpus", "--input", sentences, "--sentences", 60, "--dev-sentences", 6, "--output", folder / "corpus"],
        capsys,
    )
    assert code == 0, stderr
    training = {"learning_rate": 1e-3, "validate_every": 4, "batch_size": 4}
    config = {
        "name": "mixture",
        "model": str(tiny_model),
        "seed": 1,
        "data": {
            "mnli": str(tiny_nli["mnli"]),
            "xnli": str(tiny_nli["xnli"]),
            "squad_v1": str(folder / "squad"),
            "hellaswag": str(hellaswag),
            "mlm": str(folder / "corpus"),
        },
        "stages": [
            {
                "kind": "intermediate",
                "tasks": ["mnli", "squad_v1", "hellaswag", "mlm"],
                "epochs": 1,
                "mixing_cap": CAP,
                **training,
            },
            {"kind": "target", "task": "xnli", "max_steps": 2, **training},
            {"kind": "evaluate", "task": "xnli", "max_examples": 6},
        ],
    }
    (folder / "mixture.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    code, stdout, stderr = run_cli(["run", folder / "mixture.yaml", "--output-dir", folder / "out"], capsys)
    assert code == 0, stderr

    # the printed rates are r_m = min(e_m, K) / sum_n min(e_n, K)
    printed = {
        m[1]: (int(m[2]), float(m[3]))
        for m in re.finditer(r"^\s+(\S+)\s+(\d+) examples\s+batch\s+\d+\s+rate (\S+)", stdout, re.MULTILINE)
    }
    assert set(printed) == {"mnli", "squad_v1", "hellaswag", "mlm"}
    capped = {name: min(size, CAP) for name, (size, _) in printed.items()}
    for name, (_, rate) in printed.items():
        assert rate == pytest.approx(capped[name] / sum(capped.values()), abs=5e-5)
    # 1 epoch over the capped sizes, batch 4 each
    assert f"{sum(-(-c // 4) for c in capped.values())} batches" in stdout

    out = folder / "out"
    (intermediate,) = out.glob("intermediate-*")
    heads = sorted(path.stem for path in (intermediate / "heads").glob("*.safetensors"))
    assert heads == ["hellaswag", "mlm", "mnli", "squad_v1"]
    validations = json.loads((intermediate / "metrics.json").read_text())["training"]["validations"]
    assert set(validations[-1]["tasks"]) == {"mnli", "squad_v1", "hellaswag", "mlm"}
    assert validations[-1]["score"] == pytest.approx(
        sum(
            validations[-1]["tasks"][t][m]
            for t, m in (("mnli", "accuracy"), ("squad_v1", "f1"), ("hellaswag", "accuracy"), ("mlm", "accuracy"))
        )
        / 4
    )
    (target,) = out.glob("target-*")
    assert json.loads((target / "config.json").read_text())["upstream"] == str(intermediate)
    assert sorted(path.stem for path in (target / "heads").glob("*.safetensors")) == ["xnli"]
    with open(out / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["intermediate"], r["mlm"]) for r in rows} == {("mnli+squad_v1+hellaswag", "true")}
