"""Reading data sets and models from the Hugging Face Hub as it is today, and saying what it served.

A task's `HubSource` names the branches its data can be read from. ``main`` is read by ``datasets``,
as the Hub's own viewer reads it (the README's ``configs:`` YAML over the repo's Parquet files). The
Hub's Parquet conversion of a data set whose main is still a loading script (``datasets`` >= 4 runs no
scripts) is fetched with ``huggingface_hub``, only the files of the one config and split asked for, and
read as Parquet. Both go through the normal Hugging Face caches, so what `stilts prepare` (or a first
run) read, a run with ``HF_HUB_OFFLINE=1`` reads again. Every read returns the `HubOrigin` it came
from, down to the commit sha served, which the stage records (``config.json`` ``sources``).

Every failure is one line naming ``data.<task>``, the Hub id, config and split tried, and what to do:
a split the Hub's data set lacks is a `MissingSplit` (evaluation skips it and says so), a Hub that does
not answer is a `RunFailed`, anything else is `BadInput`.

Before the first request of a process, `use_hub` asks once whether the Hub answers at all. If it does
not, the clients are put offline for the rest of the process, as ``HF_HUB_OFFLINE=1`` would: what the
caches hold is read at once, and what they lack fails in one line. Left online, ``huggingface_hub``
retries every file it does not have five times, about half a minute per file with a warning per try,
before the same failure. A model named by Hub id is checked before any stage starts (`check_hub_model`).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from stilts.core.catalog import MAIN, HubSource
from stilts.core.errors import BadInput, MissingSplit, RunFailed, is_hub_outage, one_line

#: the config name of a data set without named configs, on the conversion branch
DEFAULT_CONFIG = "default"
_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class HubOrigin:
    """Where one split was read from: the repo, config, split, branch and the commit sha served."""

    dataset_id: str
    config: str | None
    split: str
    revision: str
    #: the commit the files came from; None only if the cache did not say (a damaged cache)
    sha: str | None
    #: the size of what was read, on disk (datasets' Arrow cache of main, or the Parquet files)
    bytes: int = 0

    def record(self) -> dict:
        return {
            "hub": self.dataset_id,
            "config": self.config,
            "split": self.split,
            "revision": self.revision,
            "sha": self.sha,
            "bytes": self.bytes,
        }


class _ScriptOnly(Exception):
    """The branch holds only a loading script (datasets' RuntimeError), not data files."""


def offline() -> bool:
    """Whether the Hugging Face clients run offline (``HF_HUB_OFFLINE``, as they read it)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


#: why this process put the clients offline (`use_hub`): the Hub did not answer; None: it did not
_unreachable: str | None = None
_asked = False


def use_hub() -> None:
    """Call before reading from the Hub. The first call of a process that is not offline sends one
    request to the Hub (no retries; ``HF_HUB_ETAG_TIMEOUT``, 10 s, bounds it); if nothing answers, the
    clients go offline for the rest of the process, and what the caches lack fails saying why
    (`not_cached`)."""
    global _unreachable, _asked
    if _asked or offline():
        return
    _asked = True
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    try:
        get_session().head(constants.ENDPOINT, timeout=constants.HF_HUB_ETAG_TIMEOUT)
    except Exception as error:  # noqa: BLE001 - no answer at all, whatever the client raised
        _unreachable = f"the Hub at {constants.ENDPOINT} does not answer ({one_line(error)})"
        _go_offline()


def _go_offline() -> None:
    """The clients' offline mode, as ``HF_HUB_OFFLINE=1`` at start-up gives it: huggingface_hub (which
    transformers asks) reads its flag on every call; datasets copies it when imported."""
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True
    os.environ["HF_DATASETS_OFFLINE"] = "1"  # for a datasets not imported yet
    if "datasets" in sys.modules:
        import datasets.config

        datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True


def not_cached(where: str, what: str, instead: str = "") -> Exception:
    """``what`` (a Hub model, or a data set's split) is not in the caches, and the clients are offline:
    a run failure where the Hub did not answer, bad input where the user set HF_HUB_OFFLINE.
    ``instead``: the local alternative (default: a folder of the release files under ``where``)."""
    instead = instead or f"give a local folder of the release files under {where}"
    why = _unreachable or "HF_HUB_OFFLINE is set"
    message = (
        f"{where}: {what} is not in this machine's Hugging Face cache and {why}: run `stilts prepare` where "
        f"the Hub can be reached, or {instead}"
    )
    return RunFailed(message) if _unreachable else BadInput(message)


def read_hub_split(source: HubSource, language: str, hub_split: str, where: str) -> tuple[Iterable[dict], HubOrigin]:
    """The rows of ``hub_split`` of ``source``'s config for ``language``, and where they came from.

    ``where`` names the setting in messages (``data.xnli``). The branches of ``source.revisions`` are
    tried in order; a branch that holds only a loading script passes to the next.
    """
    use_hub()
    config = source.config(language)
    lacking = source.config_splits.get(config or "")
    if lacking is not None and hub_split not in lacking:
        raise MissingSplit(
            f"{where}: the Hub's {source.dataset_id} ({config}) has no {hub_split} split (only {', '.join(lacking)})"
        )
    scripts = []
    for revision in source.revisions:
        try:
            if revision == MAIN:
                return _read_main(source.dataset_id, config, hub_split, where)
            return _read_conversion(source.dataset_id, config, hub_split, revision, where)
        except _ScriptOnly:
            scripts.append(revision)
    tried = " and ".join(scripts)
    raise BadInput(
        f"{where}: the Hub's {source.dataset_id} is only a loading script on {tried}, which datasets >= 4 does not "
        f"run, and it has no Parquet copy there; give a local folder of the original release files under {where}"
    )


def _tried(dataset_id: str, config: str | None, split: str, revision: str) -> str:
    return f"{dataset_id}" + (f" ({config})" if config else "") + f" split {split} @ {revision}"


def _fail(error: BaseException, where: str, tried: str) -> Exception:
    """The one-line error for a failed Hub read that is not a missing split."""
    if _unreachable:  # this process put the clients offline: the cache lacks it
        return not_cached(where, tried)
    if is_hub_outage(error):
        return RunFailed(f"{where}: the Hub did not answer for {tried}: {one_line(error)}")
    if offline():
        return not_cached(where, tried)
    return BadInput(
        f"{where}: cannot load {tried} from the Hub: {one_line(error)}. "
        f"Give a local folder of the original files under {where}"
    )


def _read_main(dataset_id: str, config: str | None, split: str, where: str) -> tuple[Iterable[dict], HubOrigin]:
    import datasets

    tried = _tried(dataset_id, config, split, MAIN)
    try:
        rows = datasets.load_dataset(dataset_id, config, split=split)
    except RuntimeError as error:
        if "Dataset scripts are no longer supported" in str(error):
            raise _ScriptOnly(str(error)) from None
        raise _fail(error, where, tried) from None
    except ValueError as error:
        # a split or a config (a language) the data set does not have
        if str(error).startswith(('Unknown split "', "Bad split:", "BuilderConfig '")):
            raise MissingSplit(f"{where}: the Hub's {tried} does not exist ({one_line(error)})") from None
        raise _fail(error, where, tried) from None
    except Exception as error:  # noqa: BLE001 - whatever the clients raise, the user gets one line
        raise _fail(error, where, tried) from None
    size = sum(Path(cache_file["filename"]).stat().st_size for cache_file in rows.cache_files)
    return rows, HubOrigin(dataset_id, config, split, MAIN, _sha_of_cached(rows), size)


def _sha_of_cached(rows) -> str | None:
    """The commit a data set loaded from main was built from: datasets keys its cache of a Hub data set
    by the commit it resolved (``<cache>/<org>___<name>/<config>/<version>/<sha>/``), online and offline."""
    for cache_file in getattr(rows, "cache_files", None) or []:
        for part in reversed(Path(cache_file["filename"]).parts):
            if _SHA.fullmatch(part):
                return part
    return None


def _read_conversion(
    dataset_id: str, config: str | None, split: str, revision: str, where: str
) -> tuple[Iterable[dict], HubOrigin]:
    import datasets
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    folder_name = config or DEFAULT_CONFIG
    tried = _tried(dataset_id, folder_name, split, revision)
    pattern = f"{folder_name}/{split}/*.parquet"
    try:
        snapshot = Path(snapshot_download(dataset_id, repo_type="dataset", revision=revision, allow_patterns=[pattern]))
    except RevisionNotFoundError:
        raise _ScriptOnly(revision) from None
    except RepositoryNotFoundError as error:
        raise BadInput(
            f"{where}: the Hub has no data set {dataset_id} (or it is private): {one_line(error)}. "
            f"Give a local folder of the original files under {where}"
        ) from None
    except Exception as error:  # noqa: BLE001
        raise _fail(error, where, tried) from None
    files = sorted(snapshot.glob(pattern))
    if not files:
        if offline():  # only the cache was looked at: the split may well exist on the Hub
            raise _fail(FileNotFoundError(pattern), where, tried)
        raise MissingSplit(f"{where}: the Hub's {tried} does not exist (no {pattern})")
    try:
        rows = datasets.load_dataset("parquet", data_files=[str(file) for file in files], split="train")
    except Exception as error:  # noqa: BLE001
        raise BadInput(f"{where}: cannot read {tried} ({files[0]}): {one_line(error)}") from None
    sha = snapshot.name if _SHA.fullmatch(snapshot.name) else None  # the cache's snapshots/<sha>/
    return rows, HubOrigin(dataset_id, folder_name, split, revision, sha, sum(file.stat().st_size for file in files))


# --- models ---------------------------------------------------------------------------------------

#: what a model repo must give for stilts to load it (tokenizer and config files, weights)
#: besides the weights: configs and tokenizers (sentencepiece ``*.model``; Marian's ``source.spm``, ``target.spm``)
_MODEL_FILES = ("*.json", "*.model", "*.spm", "*.txt", "*.tiktoken")


def fetch_model(model_id: str, where: str) -> tuple[Path, str]:
    """Download what loading ``model_id`` reads (config, tokenizer, one weights format: safetensors when
    the repo has them) into the Hugging Face cache; returns the local folder and the commit sha."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import RepositoryNotFoundError

    use_hub()
    if offline():  # what prepare would fetch cannot be had; what the cache has is there already
        cached = _cached_model_folder(model_id)
        if cached is None:
            raise not_cached(where, f"the model {model_id}", "name a local model folder")
        return cached, cached.name
    try:
        files = HfApi().list_repo_files(model_id)
        weights = [name for name in files if name.endswith(".safetensors") or name.endswith(".safetensors.index.json")]
        if not weights:
            weights = [name for name in files if name.startswith("pytorch_model") and name.endswith((".bin", ".json"))]
        folder = Path(snapshot_download(model_id, allow_patterns=[*_MODEL_FILES, *weights]))
    except RepositoryNotFoundError as error:
        raise BadInput(f"{where}: the Hub has no model {model_id} (or it is private): {one_line(error)}") from None
    except Exception as error:  # noqa: BLE001
        if is_hub_outage(error):
            raise RunFailed(f"{where}: the Hub did not answer for {model_id}: {one_line(error)}") from None
        raise BadInput(f"{where}: cannot fetch the model {model_id} from the Hub: {one_line(error)}") from None
    return folder, folder.name


def check_hub_model(model_id: str, where: str) -> None:
    """Before any stage starts: the model ``model_id`` names on the Hub can be loaded (its cache has
    it, or the Hub does), else one line: BadInput for a model the Hub does not have, RunFailed for a
    Hub that does not answer. One request, no retries."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import RepositoryNotFoundError

    use_hub()
    if _cached_model_folder(model_id) is not None:
        return
    if offline():
        raise not_cached(where, f"the model {model_id}", "name a local model folder")
    try:
        HfApi().model_info(model_id, timeout=constants.HF_HUB_ETAG_TIMEOUT)
    except RepositoryNotFoundError as error:
        raise BadInput(
            f"{where}: the Hub has no model {model_id} (or it is private or gated: log in with `hf auth login`): "
            f"{one_line(error)}"
        ) from None
    except Exception as error:  # noqa: BLE001
        if is_hub_outage(error):
            raise RunFailed(f"{where}: the Hub did not answer for the model {model_id}: {one_line(error)}") from None
        raise BadInput(f"{where}: cannot find the model {model_id} on the Hub: {one_line(error)}") from None


def _cached_model_folder(model_id: str) -> Path | None:
    """The cached snapshot of ``model_id``'s main that has its config.json, if any."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model_id, "config.json")
    return Path(found).parent if isinstance(found, str) else None


def cached_model_sha(model_id: str) -> str | None:
    """The commit of ``model_id``'s main in the Hugging Face cache (what an offline load reads), if any."""
    folder = _cached_model_folder(model_id)
    return folder.name if folder is not None and _SHA.fullmatch(folder.name) else None
