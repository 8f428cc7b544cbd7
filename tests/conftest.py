import os

# Never wait on the Hub: a failing Hub call otherwise retries for ~50 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` skip, with the reason, where torch sees no CUDA device."""
    marked = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not marked:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(
        reason="needs a CUDA device (torch.cuda.is_available() is False); with one: bash benchmarks/gpu_check.sh"
    )
    for item in marked:
        item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def feature_cache(tmp_path_factory):
    """Tokenized features that tests (and the runs they start) cache stay in the session's temporary
    folder, not in the user's ~/.cache."""
    os.environ["STILTS_FEATURE_CACHE"] = str(tmp_path_factory.mktemp("feature-cache"))
    return Path(os.environ["STILTS_FEATURE_CACHE"])


@pytest.fixture(scope="session", autouse=True)
def hash_cache(tmp_path_factory):
    """The sha256 of data and model files that planning keeps stays in the session's temporary folder."""
    os.environ["STILTS_HASH_CACHE"] = str(tmp_path_factory.mktemp("hash-cache"))
    return Path(os.environ["STILTS_HASH_CACHE"])


@pytest.fixture(scope="session", autouse=True)
def translation_cache(tmp_path_factory):
    """The translations translate-test stages cache stay in the session's temporary folder."""
    os.environ["STILTS_TRANSLATION_CACHE"] = str(tmp_path_factory.mktemp("translation-cache"))
    return Path(os.environ["STILTS_TRANSLATION_CACHE"])


@pytest.fixture
def shared_data():
    """../shared/data beside the checkout; tests using it skip with a reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture
def fresh_accelerator_state():
    """For a test that makes its own Accelerators (CPU and GPU ones, or another precision than the
    other tests'): Accelerate's state is global to the process."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny XLM-R-architecture encoder with a sentencepiece tokenizer, built offline."""
    from stilts.testing import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_encoders(tmp_path_factory):
    """Family -> a tiny random encoder of that architecture family with a tokenizer of its kind
    (`stilts.testing.encoders`), built offline once per session."""
    from stilts.testing.encoders import FAMILIES, build_tiny_encoder

    folder = tmp_path_factory.mktemp("tiny-encoders")
    return {family: build_tiny_encoder(folder / family, family) for family in FAMILIES}


@pytest.fixture(scope="session")
def tiny_nli(tmp_path_factory):
    from stilts.testing import write_tiny_nli

    return write_tiny_nli(tmp_path_factory.mktemp("tiny-nli"))


def write_pipeline(path, model, data, *, name="tiny", extra_stages=None, stage_settings=None, **training):
    """A tiny MNLI -> XNLI pipeline YAML; returns its path. ``stage_settings``: kind -> more fields
    of that kind's stage (e.g. {"target": {"peft": {"r": 4}}})."""
    import yaml

    settings = {"learning_rate": 1e-3, "batch_size": 16, "epochs": 2, "validate_every": 4, **training}
    config = {
        "name": name,
        "model": str(model),
        "seed": 1,
        "data": {task: str(folder) for task, folder in data.items()},
        "stages": [
            dict(kind="intermediate", tasks=["mnli"], **settings, **(stage_settings or {}).get("intermediate", {})),
            dict(kind="target", task="xnli", **settings, **(stage_settings or {}).get("target", {})),
            dict(kind="evaluate", task="xnli", **(stage_settings or {}).get("evaluate", {})),
        ]
        + (extra_stages or []),
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
def nine_by_nine():
    """Nine made-up intermediate and nine made-up target tasks, removed again afterwards."""
    from stilts.core.catalog import TASKS, Task, register_task
    from stilts.formats.classification import CLASSIFICATION

    names = [f"fake_inter{i}" for i in range(9)] + [f"fake_target{i}" for i in range(9)]
    for name in names:
        phase = {"intermediate"} if "inter" in name else {"target", "evaluate"}
        register_task(
            Task(
                name=name,
                format=CLASSIFICATION,
                phases=frozenset(phase),
                languages=("en",),
                metric="accuracy",
                description="test",
                labels=("a", "b"),
            )
        )
    yield names
    for name in names:
        TASKS.remove(name)
