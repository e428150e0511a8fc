"""TrainConfig: paper defaults, CLI generated from the fields, round trip through a dict."""

from __future__ import annotations

import argparse

import pytest

from training.config import TrainConfig, add_config_arguments, config_from_namespace


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    return parser.parse_args(argv)


def test_paper_defaults():
    cfg = TrainConfig()
    assert (cfg.lr, cfg.betas, cfg.batch_size, cfg.epochs, cfg.decay_start_epoch) == (
        2e-4, (0.5, 0.999), 1, 200, 100)  # fmt: skip
    assert cfg.lambda_pix == cfg.lambda_per == cfg.lambda_cyc == cfg.lambda_pde == 10.0
    assert cfg.variant == "full" and cfg.bands == ("VV", "VH")
    assert cfg.db_ranges == {"VV": (-25.0, 0.0), "VH": (-32.5, 0.0)}


def test_cli_overrides_only_what_is_given():
    args = _parse(["--betas", "0.4,0.9", "--no-augment", "--variant", "base", "--in-bands", "VV"])
    given = {"betas": (0.4, 0.9), "augment": False, "variant": "base", "in_bands": "VV"}
    assert vars(args) == given
    base = TrainConfig(width=8, epochs=3)
    cfg = config_from_namespace(args, base)
    assert (cfg.width, cfg.epochs, cfg.betas, cfg.augment) == (8, 3, (0.4, 0.9), False)
    assert cfg.db_ranges == {"VV": (-25.0, 0.0)}


def test_dict_round_trip_and_validation():
    cfg = TrainConfig(width=16, sar_db_range=(-20.0, 0.0, -30.0, -5.0))
    data = cfg.to_dict()
    data["betas"] = list(data["betas"])  # as JSON would store it
    assert TrainConfig.from_dict(data) == cfg
    with pytest.raises(ValueError, match="unknown config keys"):
        TrainConfig.from_dict({**data, "colour": 1})
    with pytest.raises(ValueError, match="unknown variant"):
        TrainConfig(variant="unet").validate()
    with pytest.raises(ValueError, match="range of VH"):
        TrainConfig(sar_db_range=(-25.0, 0.0, 0.0, -32.5)).validate()
    with pytest.raises(SystemExit):
        _parse(["--variant", "nope"])


def test_context_sigmas_from_the_command_line_and_their_checks():
    cfg = config_from_namespace(_parse(["--context-sigmas", "8,16,32"]), TrainConfig())
    assert cfg.validate().context_sigmas == (8.0, 16.0, 32.0)
    assert config_from_namespace(_parse(["--context-sigmas", ""]), cfg).context_sigmas == ()
    with pytest.raises(ValueError, match="context_sigmas must be positive multiples of 4 px, "
                                         "got 8, 6"):
        TrainConfig(context_sigmas=(8.0, 6.0)).validate()
    with pytest.raises(ValueError, match="not the U-Net of pix2pix"):
        TrainConfig(variant="pix2pix", context_sigmas=(8.0,)).validate()
