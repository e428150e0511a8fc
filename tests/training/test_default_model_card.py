"""scripts/default_model.py's card text on the other candidate runs: each named with how its
recipe differs from the shipped run's (read from the config.json every run writes)."""

from __future__ import annotations

import json

import pytest

from scripts.default_model import other_runs_text, recipe_difference


def _run(folder, **changes):
    config = {"variant": "full", "crop": 96, "lambda_corr": 0.0, "seed": 1,
              "out_dir": str(folder), "max_minutes": 40, **changes}
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_the_card_names_each_other_runs_recipe_change_and_score(tmp_path):
    shipped = _run(tmp_path / "shipped")
    _run(tmp_path / "corr3", lambda_corr=3.0, out_dir="elsewhere", max_minutes=0)
    _run(tmp_path / "crop120_s2", crop=120, seed=2)
    # where a run was written or how long it might run is not part of its recipe
    assert recipe_difference(shipped, tmp_path / "corr3") == "lambda_corr 3.0"
    assert recipe_difference(shipped, tmp_path / "crop120_s2") == "crop 120; seed 2"
    assert recipe_difference(shipped, tmp_path / "missing") == ""
    # an older run's config lacks later options: their defaults (off) stand in, no "None"
    older = _run(tmp_path / "older")
    config = json.loads((older / "config.json").read_text())
    del config["lambda_corr"]
    (older / "config.json").write_text(json.dumps(config))
    assert recipe_difference(shipped, older) == recipe_difference(older, shipped) == ""
    selection = {"other_runs": {
        "corr3": {"chosen": "checkpoint_epoch040.pt", "score": 5.805},
        "crop120_s2": {"chosen": "checkpoint_epoch060.pt", "score": 6.3249},
        "missing": {"chosen": "checkpoint_epoch010.pt", "score": 1.0}}}
    text = other_runs_text(selection, shipped)
    assert "`corr3` (lambda_corr 3.0) checkpoint_epoch040.pt 5.80" in text  # 5.805 -> 5.80
    assert "`crop120_s2` (crop 120; seed 2) checkpoint_epoch060.pt 6.32" in text
    assert "`missing` checkpoint_epoch010.pt 1.00" in text
    assert other_runs_text({}, shipped) == ""


def test_select_only_skips_models_whose_runs_are_absent(tmp_path, capsys):
    from scripts.default_model import choose_on_val, parse_args

    args = parse_args(["--runs", str(tmp_path), "--dual-runs", "a,b", "--vv-runs", "c",
                       "--select-only"])
    assert choose_on_val(args) == ({}, {}, {})
    out = capsys.readouterr().out
    assert f"S2O-NPDE (VV+VH, shipped): skipped, no run among {tmp_path / 'a'}, {tmp_path / 'b'}" \
        in out
    assert f"Base (ablation): skipped, no run among {tmp_path / 'base'}" in out
    args.select_only = False  # building the models needs every run: a missing one is an error
    with pytest.raises(FileNotFoundError):
        choose_on_val(args)
