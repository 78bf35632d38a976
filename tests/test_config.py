from pathlib import Path

import pytest

from rlfn.train.config import apply_overrides, build_config, load_config
from rlfn.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"optim\.lrate: unknown key"):
        build_config({"data": {"hr_dirs": ["x"]}, "optim": {"lrate": 1e-3}})
    with pytest.raises(ConfigError, match=r"stages\[1\]\.data\.patchsize: unknown key"):
        build_config({"data": {"hr_dirs": ["x"]}, "stages": [{"steps": 1}, {"steps": 2, "data": {"patchsize": 3}}]})


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"data\.batch_size: expected int, got 'sixteen'"):
        build_config({"data": {"hr_dirs": ["x"], "batch_size": "sixteen"}})
    with pytest.raises(ConfigError, match=r"optim\.schedule: 'linear' is not one of"):
        build_config({"data": {"hr_dirs": ["x"]}, "optim": {"schedule": "linear"}})
    with pytest.raises(ConfigError, match=r"train\.ema: expected float"):
        build_config({"data": {"hr_dirs": ["x"]}, "train": {"ema": True}})


def test_stages_merge_over_base_sections():
    cfg = build_config({
        "data": {"hr_dirs": ["a"], "patch_size": 32},
        "optim": {"lr": 1e-3},
        "stages": [{"name": "one", "steps": 5}, {"steps": 7, "loss": {"contrastive": 0.1}, "optim": {"lr": 2e-4}}],
    })
    assert [s.steps for s in cfg.stages] == [5, 7]
    assert cfg.stages[0].optim.lr == 1e-3 and cfg.stages[1].optim.lr == 2e-4
    assert cfg.stages[1].loss.contrastive == 0.1 and cfg.stages[1].loss.l1 == 1.0
    assert cfg.stages[1].data.patch_size == 32 and cfg.stages[1].name == "stage2"


def test_no_stages_means_one_stage_of_train_steps():
    cfg = build_config({"data": {"hr_dirs": ["a"]}, "train": {"steps": 12}})
    assert len(cfg.stages) == 1 and cfg.stages[0].steps == 12


def test_overrides():
    raw = {"data": {"hr_dirs": ["a"]}, "stages": [{"steps": 1}, {"steps": 2}]}
    out = apply_overrides(raw, ["train.batch=3", "stages.1.steps=9", "data.hr_dirs=[b, c]", "optim.lr=1e-4"])
    assert out["train"]["batch"] == 3 and out["stages"][1]["steps"] == 9 and out["data"]["hr_dirs"] == ["b", "c"]
    assert build_config({**out, "train": {}}).stages[0].optim.lr == 1e-4  # "1e-4" (a YAML string) → float
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides(raw, ["train.steps"])
    with pytest.raises(ConfigError, match="no such list index"):
        apply_overrides(raw, ["stages.5.steps=1"])


def test_value_checks():
    with pytest.raises(ConfigError, match=r"patch_size: must be at least 15"):
        build_config({"data": {"hr_dirs": ["a"], "patch_size": 8}})
    with pytest.raises(ConfigError, match=r"data\.hr_dirs: give at least one"):
        build_config({})
    with pytest.raises(ConfigError, match=r"model\.variant: unknown"):
        build_config({"data": {"hr_dirs": ["a"]}, "model": {"variant": "edsr"}})


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_repository_configs_parse(path):
    cfg = load_config(path)
    assert cfg.stages and all(s.steps > 0 for s in cfg.stages)


def test_bad_yaml(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")


def test_saved_config_round_trips_and_still_follows_train_steps():
    cfg = build_config({"data": {"hr_dirs": ["a"]}, "train": {"steps": 12}})
    again = build_config(apply_overrides(cfg.to_dict(), ["train.steps=3"]))
    assert again.stages[0].steps == 3
    staged = build_config({"data": {"hr_dirs": ["a"]}, "stages": [{"steps": 2}, {"steps": 5, "optim": {"lr": 1e-5}}]})
    assert build_config(staged.to_dict()).stages == staged.stages


# ---------------------------------------------------------------- data.degradation


def test_degradation_default_is_bicubic_and_realworld_has_three_forms():
    from rlfn.quality.realworld import RealWorldConfig

    assert build_config({"data": {"hr_dirs": ["a"]}}).stages[0].data.degradation.kind == "bicubic"
    assert build_config({"data": {"hr_dirs": ["a"], "degradation": "bicubic"}}).stages[0].data.degradation.realworld is None
    short = build_config({"data": {"hr_dirs": ["a"], "degradation": "realworld"}}).stages[0].data.degradation
    assert short.kind == "realworld" and short.realworld == RealWorldConfig()
    long = build_config({"data": {"hr_dirs": ["a"], "degradation": {"kind": "realworld", "noise_range": [1, 10]}}})
    d = long.stages[0].data.degradation
    assert d.kind == "realworld" and d.realworld.noise_range == [1.0, 10.0] and d.realworld.jpeg_range == [30, 95]


def test_stage_degradation_merges_over_the_top_level_one():
    cfg = build_config({
        "data": {"hr_dirs": ["a"], "degradation": {"kind": "realworld", "noise_range": [1, 10]}},
        "stages": [{"steps": 1},
                   {"steps": 1, "data": {"degradation": {"jpeg_range": [60, 95]}}},  # settings merge
                   {"steps": 1, "data": {"degradation": "bicubic"}},  # another kind replaces
                   {"steps": 1, "data": {"degradation": "realworld"}}],  # the same kind: keeps the settings
    })
    d = [s.data.degradation for s in cfg.stages]
    assert d[0].realworld.noise_range == [1.0, 10.0] and d[0].realworld.jpeg_range == [30, 95]
    assert d[1].realworld.noise_range == [1.0, 10.0] and d[1].realworld.jpeg_range == [60, 95]
    assert d[2].kind == "bicubic" and d[2].realworld is None
    assert d[3].realworld == d[0].realworld
    plain = build_config({"data": {"hr_dirs": ["a"]},
                          "stages": [{"steps": 1}, {"steps": 1, "data": {"degradation": {"kind": "realworld", "sinc_prob": 0}}}]})
    assert plain.stages[0].data.degradation.kind == "bicubic" and plain.stages[1].data.degradation.realworld.sinc_prob == 0.0


@pytest.mark.parametrize("degradation,stages,message", [
    ({"kind": "realworld", "blur_prob": 1.5}, None, r"^data\.degradation\.blur_prob: must be a probability"),
    ({"kind": "realworld", "blurr_prob": 0.5}, None, r"^data\.degradation\.blurr_prob: unknown key"),
    ({"kind": "realworld", "noise_range": [1, "x"]}, None, r"^data\.degradation\.noise_range\[1\]: expected float"),
    ({"kind": "gan"}, None, r"^data\.degradation\.kind: 'gan' is not one of bicubic, realworld"),
    ("jpeg", None, r"^data\.degradation\.kind: 'jpeg' is not one of"),
    (5, None, r"^data\.degradation: expected one of bicubic, realworld or a mapping"),
    ({"noise_range": [1, 10]}, None, r"^data\.degradation\.noise_range: a setting of the realworld pipeline; add data\.degradation\.kind: realworld"),
    ("realworld", [{"steps": 1}, {"steps": 1, "data": {"degradation": {"jpeg_range2": [0, 90]}}}],
     r"^stages\[1\]\.data\.degradation\.jpeg_range2: JPEG qualities"),
])
def test_bad_degradation_is_refused_naming_the_key(degradation, stages, message):
    raw = {"data": {"hr_dirs": ["a"], "degradation": degradation}}
    if stages:
        raw["stages"] = stages
    with pytest.raises(ConfigError, match=message):
        build_config(raw)


def test_realworld_refuses_paired_lr_and_overrides_reach_its_settings():
    with pytest.raises(ConfigError, match=r"stages\[0\]\.data\.lr_dirs: the realworld degradation makes its own LR"):
        build_config({"data": {"hr_dirs": ["a"], "lr_dirs": ["b"], "degradation": "realworld"}})
    raw = apply_overrides({"data": {"hr_dirs": ["a"], "degradation": {"kind": "realworld"}}},
                          ["data.degradation.noise_range=[2, 5]"])
    assert build_config(raw).stages[0].data.degradation.realworld.noise_range == [2.0, 5.0]
    raw = apply_overrides({"data": {"hr_dirs": ["a"]}}, ["data.degradation=realworld"])
    assert build_config(raw).stages[0].data.degradation.kind == "realworld"
