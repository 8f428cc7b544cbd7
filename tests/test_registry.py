"""The one registry class: duplicates refused, unknown names answered with one line and a
did-you-mean, lazy entries imported when first asked for, and where each entry came from."""

import sys

import pytest

from stilts.core.catalog import TASKS
from stilts.core.errors import BadInput
from stilts.core.registry import Registry
from stilts.pipeline.stage_kinds import STAGE_KINDS


def test_add_get_and_duplicates():
    colours = Registry("colour", from_plugins=False)
    colours.add("red", 1)
    assert colours.get("red") == 1 and "red" in colours and colours.names() == ["red"]
    assert colours.origin("red") == __name__  # added by this module, not by a plugin
    with pytest.raises(ValueError, match="colour 'red' registered twice"):
        colours.add("red", 2)
    with pytest.raises(BadInput, match=r"^stages\[0\].colour: unknown colour 'rde' \(did you mean 'red'\?\)$"):
        colours.get("rde", "stages[0].colour")
    colours.remove("red")
    assert "red" not in colours


def test_lazy_entries_are_imported_on_first_use():
    commands = Registry("thing", from_plugins=False)
    commands.add_lazy("yiq", "colorsys:rgb_to_yiq")
    sys.modules.pop("colorsys", None)
    assert "colorsys" not in sys.modules
    assert commands.get("yiq")(0, 0, 0) == (0, 0, 0) and "colorsys" in sys.modules
    with pytest.raises(ValueError, match="not 'module:attribute'"):
        commands.add_lazy("bad", "colorsys.rgb_to_yiq")


def test_stilts_own_entries_come_from_its_plugins():
    import stilts.target.stages  # noqa: F401 (imported before any registry is read: still its plugin)

    assert set(STAGE_KINDS.names()) == {"intermediate", "target", "evaluate", "average", "few_shot", "translate_test"}
    for kind in ("target", "evaluate", "average", "few_shot"):
        assert STAGE_KINDS.origin(kind) == "stilts (target-stages)", kind
    assert STAGE_KINDS.origin("translate_test") == "stilts (translate)"
    # "stilts (target-tasks)", or "stilts" when another test imported a catalog module directly first
    assert TASKS.origin("xnli").split(" (")[0] == "stilts" and TASKS.origin("mnli").split(" (")[0] == "stilts"


def test_an_install_without_the_entry_points_says_to_reinstall(monkeypatch):
    from stilts.core import registry
    from stilts.core.errors import RunFailed

    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    monkeypatch.setattr(registry._state, "loaded", False)
    with pytest.raises(RunFailed, match=r"reinstall it \(pip install -e \.\)"):
        registry.load_plugins()
