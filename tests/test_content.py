"""`stilts.data.content`: file hashes cached on disk by path, size and modification time; what a folder's
content is."""

import os
from pathlib import Path

from stilts.data import content

#: file times as a run finds them: written a while ago (outside the cache's racy window)
LONG_AGO_NS = 1_700_000_000_000_000_000


def _folder(folder: Path) -> Path:
    for name, text in [("mnli/train.jsonl", '{"gold_label": "neutral"}\n'), ("xnli/dev-de.tsv", "a\tb\tneutral\n")]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
        os.utime(folder / name, ns=(LONG_AGO_NS, LONG_AGO_NS))
    return folder


def test_file_hashes_are_cached_on_disk_by_path_size_and_time(tmp_path, monkeypatch):
    monkeypatch.setenv("STILTS_HASH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(content, "_known", {})
    folder = _folder(tmp_path / "data")
    digest = content.folder_sha256(folder)
    assert list((tmp_path / "cache").glob("*.json"))
    # another process (nothing known in memory) takes the hashes from the disk cache: a file changed
    # behind its size and time, which nothing but a read would notice, keeps its cached hash
    monkeypatch.setattr(content, "_known", {})
    edited = folder / "xnli" / "dev-de.tsv"
    edited.write_text("x\ty\tneutral\n")
    os.utime(edited, ns=(LONG_AGO_NS, LONG_AGO_NS))
    assert content.folder_sha256(folder) == digest
    # a new time is a new hash
    os.utime(edited, ns=(LONG_AGO_NS + 1, LONG_AGO_NS + 1))
    assert content.folder_sha256(folder) != digest


def test_a_file_written_just_now_is_hashed_again_until_its_time_is_settled(tmp_path, monkeypatch):
    """Within a file system's timestamp resolution a second write may leave size and time as they were."""
    monkeypatch.setenv("STILTS_HASH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(content, "_known", {})
    path = tmp_path / "data" / "dev-de.tsv"
    path.parent.mkdir()
    path.write_text("a\tb\tneutral\n")
    first = content.file_sha256(path)
    stat = path.stat()
    path.write_text("b\ta\tneutral\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the same size and time as the first write
    assert content.file_sha256(path) != first


def test_hidden_files_are_not_part_of_a_folders_content(tmp_path):
    folder = _folder(tmp_path / "data")
    digest = content.folder_sha256(folder)
    (folder / "xnli" / ".dev-de.tsv.swp").write_text("an editor's swap file")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "download.lock").write_text("")
    assert content.folder_sha256(folder) == digest
