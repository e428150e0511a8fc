"""training.checkpoint.average_checkpoints: the mean of generators' weights, loadable and exportable
like any checkpoint."""

from __future__ import annotations

import pytest
import torch

from training.checkpoint import (
    average_checkpoints,
    load_checkpoint,
    load_generator,
    read_checkpoint,
    save_model_checkpoint,
)
from training.config import TrainConfig


def write(path, seed, cfg):
    torch.manual_seed(seed)
    save_model_checkpoint(path, cfg)
    return load_checkpoint(path)[1]


def test_average_is_the_mean_of_the_generators(tmp_path):
    cfg = TrainConfig(variant="full", width=4, lambda_per=0.0)
    gens = [write(tmp_path / f"c{i}.pt", i, cfg) for i in range(3)]
    out = average_checkpoints([tmp_path / f"c{i}.pt" for i in range(3)], tmp_path / "avg.pt")
    got_cfg, avg = load_checkpoint(out)
    assert got_cfg == cfg
    spec = load_generator(out)[1]  # the model section is carried over: export reads it
    assert read_checkpoint(out)["model_spec"] == read_checkpoint(tmp_path / "c2.pt")["model_spec"]
    assert (spec.variant, spec.bands, spec.width) == ("full", ("VV", "VH"), 4)
    for name, value in avg.state_dict().items():
        expected = torch.stack([g.state_dict()[name] for g in gens]).mean(0)
        torch.testing.assert_close(value, expected)
    # not just one of the inputs: the average differs from each
    first = next(iter(avg.state_dict()))
    assert all(not torch.equal(avg.state_dict()[first], g.state_dict()[first]) for g in gens)


def test_average_refuses_different_networks(tmp_path):
    write(tmp_path / "a.pt", 0, TrainConfig(variant="full", width=4, lambda_per=0.0))
    write(tmp_path / "b.pt", 0, TrainConfig(variant="base", width=4, lambda_per=0.0))
    with pytest.raises(ValueError, match="same generators"):
        average_checkpoints([tmp_path / "a.pt", tmp_path / "b.pt"], tmp_path / "avg.pt")
    with pytest.raises(ValueError, match="at least one"):
        average_checkpoints([], tmp_path / "avg.pt")
