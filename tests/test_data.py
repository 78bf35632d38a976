import pytest
import torch

from _train_helpers import make_images
from rlfn.train.data import PatchDataset, StepBatchSampler, augment, check_patch, load_images
from rlfn.errors import ConfigError
from rlfn.quality.degradation import make_lr


@pytest.fixture
def images(tmp_path):
    return load_images([str(make_images(tmp_path / "hr", n=3))], None, 2, "cached")


def test_samples_are_deterministic_and_paired(images):
    ds = PatchDataset(images, 2, 16, augment=False, seed=3)
    lr, hr = ds[5]
    lr2, hr2 = ds[5]
    assert torch.equal(lr, lr2) and torch.equal(hr, hr2)
    assert lr.shape == (3, 16, 16) and hr.shape == (3, 32, 32) and lr.dtype == torch.uint8
    assert not torch.equal(ds[6][1], hr)
    # the LR patch is the matching crop of the whole image's MATLAB bicubic LR: find it
    found = False
    for im in images:
        full = make_lr(im.hr.double(), 2).to(torch.uint8)
        for y in range(full.shape[1] - 15):
            for x in range(full.shape[2] - 15):
                if torch.equal(full[:, y:y + 16, x:x + 16], lr) and torch.equal(im.hr[:, 2 * y:2 * y + 32, 2 * x:2 * x + 32], hr):
                    found = True
    assert found
    assert not torch.equal(PatchDataset(images, 2, 16, augment=False, seed=4)[5][1], hr)  # the seed matters


def test_on_the_fly_lr_is_close_to_cached(tmp_path):
    folder = make_images(tmp_path / "hr", n=2)
    a = PatchDataset(load_images([str(folder)], None, 2, "cached"), 2, 16, augment=False)
    b = PatchDataset(load_images([str(folder)], None, 2, "on_the_fly"), 2, 16, augment=False)
    (la, ha), (lb, hb) = a[0], b[0]
    assert torch.equal(ha, hb)
    inner = (la.float() - lb.float())[:, 3:-3, 3:-3].abs()  # borders differ: whole-image vs patch context
    assert inner.max() <= 1


def test_augment_is_the_same_on_both():
    lr = torch.arange(2 * 3 * 4 * 4).reshape(2 * 3, 4, 4)[:3].to(torch.uint8)
    hr = lr.repeat_interleave(2, -1).repeat_interleave(2, -2)
    for code in range(8):
        a, b = augment(lr, hr, code)
        assert torch.equal(a.repeat_interleave(2, -1).repeat_interleave(2, -2), b)
    assert len({augment(lr, hr, c)[0].numpy().tobytes() for c in range(8)}) == 8


def test_sampler_resumes_and_shards():
    full = list(StepBatchSampler(4, 0, 6))
    assert list(StepBatchSampler(4, 3, 6)) == full[3:]
    r0, r1 = list(StepBatchSampler(4, 0, 3, 0, 2)), list(StepBatchSampler(4, 0, 3, 1, 2))
    flat = [i for b in r0 + r1 for i in b]
    assert len(flat) == len(set(flat)) == 24


def test_bad_folders(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.hr_dirs: .*nowhere: no such folder"):
        load_images([str(tmp_path / "nowhere")], None, 2, "cached")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"empty: has no images"):
        load_images([str(tmp_path / "empty")], None, 2, "cached")
    small = load_images([str(make_images(tmp_path / "small", n=1, size=(20, 20)))], None, 2, "cached")
    with pytest.raises(ConfigError, match=r"img00\.png: 20×20 pixels is smaller than the HR patch 32×32"):
        check_patch(small, 2, 16)


def test_paired_lr_folder(tmp_path):
    hr_dir = make_images(tmp_path / "hr", n=2)
    lr_dir = tmp_path / "lr"
    lr_dir.mkdir()
    from PIL import Image

    for p in sorted(hr_dir.iterdir()):
        Image.open(p).resize((24, 20), Image.NEAREST).save(lr_dir / f"{p.stem}x2.png")
    ims = load_images([str(hr_dir)], [str(lr_dir)], 2, "cached")
    assert ims[0].lr.shape == (3, 20, 24) and ims[0].hr.shape == (3, 40, 48)
    lr, hr = PatchDataset(ims, 2, 16, augment=False)[0]
    assert lr.shape == (3, 16, 16) and hr.shape == (3, 32, 32)


# ---------------------------------------------------------------- realworld degradation


def realworld_dataset(images, seed=0, stage=0):
    from rlfn.quality.realworld import RealWorldDegradation

    return PatchDataset(images, 2, 16, augment=True, seed=seed, stage=stage, degrade=RealWorldDegradation(2))


def test_realworld_degrades_the_augmented_hr_patch(tmp_path):
    from rlfn.quality.realworld import degrade, sample_generator

    images = load_images([str(make_images(tmp_path / "hr", n=3))], None, 2, "on_the_fly")
    ds = realworld_dataset(images, seed=3, stage=1)
    bicubic = PatchDataset(images, 2, 16, augment=True, seed=3, stage=1)
    for i in range(4):
        lr, hr = ds[i]
        assert lr.shape == (3, 16, 16) and hr.shape == (3, 32, 32) and lr.dtype == hr.dtype == torch.uint8
        assert torch.equal(hr, bicubic[i][1])  # the same crop and flip/rotation as the bicubic data draws
        assert torch.equal(lr, degrade(hr, 2, generator=sample_generator(3, 1, i)))  # degraded after augmenting
        assert torch.equal(lr, ds[i][0])
    assert not torch.equal(realworld_dataset(images, seed=3, stage=0)[0][0], ds[0][0])  # the stage matters


def _batches(ds, start, end, workers):
    from rlfn.train.data import make_loader

    return list(make_loader(ds, 2, start, end, workers=workers))


def test_realworld_samples_are_the_same_in_any_worker_and_after_a_resume(tmp_path):
    images = load_images([str(make_images(tmp_path / "hr", n=3))], None, 2, "on_the_fly")
    ds = realworld_dataset(images, seed=1)
    main = _batches(ds, 0, 4, workers=0)
    workers = _batches(ds, 0, 4, workers=2)
    resumed = _batches(ds, 2, 4, workers=2)  # a run resumed at step 2, in fresh worker processes
    assert len(main) == len(workers) == 4 and len(resumed) == 2
    for (la, ha), (lb, hb) in zip(main, workers):
        assert torch.equal(la, lb) and torch.equal(ha, hb)
    for (la, ha), (lb, hb) in zip(main[2:], resumed):
        assert torch.equal(la, lb) and torch.equal(ha, hb)


def test_stage_datasets_make_realworld_stages(tmp_path):
    from _train_helpers import tiny_config
    from rlfn.train.data import stage_datasets

    cfg = tiny_config(tmp_path, stages=[{"steps": 1}, {"steps": 1, "data": {"degradation": "realworld"}}])
    plain, real = stage_datasets(cfg, 2)
    assert plain.degrade is None and plain.images[0].lr is not None  # bicubic, cached as before
    assert real.degrade is not None and real.degrade.scale == 2 and real.images[0].lr is None
    lr, hr = real[0]
    assert lr.shape == (3, 16, 16) and hr.shape == (3, 32, 32)


# ---------------------------------------------------------------- data.hr_scales


def test_hr_scales_add_downscaled_copies_with_their_own_lr(tmp_path):
    from rlfn.quality.imresize import imresize
    from rlfn.quality.degradation import modcrop

    folder = make_images(tmp_path / "hr", n=2, size=(96, 80))
    plain = load_images([str(folder)], None, 2, "cached")
    multi = load_images([str(folder)], None, 2, "cached", hr_scales=(1.0, 0.5))
    assert len(multi) == 4 and [im.hr_scale for im in multi] == [1.0, 0.5, 1.0, 0.5]
    assert torch.equal(multi[0].hr, plain[0].hr) and torch.equal(multi[0].lr, plain[0].lr)
    small = multi[1]
    want = modcrop(imresize(plain[0].hr.double(), scale=0.5).round().clamp(0, 255), 2)
    assert small.hr.shape == (3, 40, 48) and torch.equal(small.hr, want.to(torch.uint8))
    assert torch.equal(small.lr, make_lr(want, 2).to(torch.uint8))  # LR made from the copy, not the original
    only_small = load_images([str(folder)], None, 2, "on_the_fly", hr_scales=(0.75,))
    assert [tuple(im.hr.shape) for im in only_small] == [(3, 60, 72)] * 2 and only_small[0].lr is None


def test_hr_scales_copies_too_small_for_the_patch_are_left_out(tmp_path):
    ims = load_images([str(make_images(tmp_path / "hr", n=1, size=(96, 80)))], None, 2, "cached",
                      hr_scales=(1.0, 0.5))
    assert len(check_patch(ims, 2, 16)) == 2  # 48×40 holds a 32² HR patch
    kept = check_patch(ims, 2, 24)  # 48×40 does not hold 48²: the copy goes, the original stays
    assert [im.hr_scale for im in kept] == [1.0]


def test_hr_scales_config_checks(tmp_path):
    from _train_helpers import tiny_config
    from rlfn.train.config import build_config
    from rlfn.train.data import stage_datasets

    for bad in ([], [0.0], [1.5], [0.5, 0.5]):
        with pytest.raises(ConfigError, match=r"data\.hr_scales: give distinct factors in \(0, 1\]"):
            build_config({"data": {"hr_dirs": ["a"], "hr_scales": bad}})
    with pytest.raises(ConfigError, match=r"data\.hr_scales: paired LR folders"):
        build_config({"data": {"hr_dirs": ["a"], "lr_dirs": ["b"], "hr_scales": [1, 0.5]}})
    make_images(tmp_path / "train", size=(96, 80))  # tiny_config's folder: 72×60 copies hold its 32² patch
    cfg = tiny_config(tmp_path, data={"hr_scales": [1, 0.75]})
    (ds,) = stage_datasets(cfg, 2)
    assert sorted({im.hr_scale for im in ds.images}) == [0.75, 1.0] and len(ds.images) == 8


# ---------------------------------------------------------------- data.min_detail


def test_patch_detail_measures_neighbour_steps():
    from rlfn.train.data import patch_detail

    assert patch_detail(torch.full((3, 8, 8), 77, dtype=torch.uint8)) == 0.0
    checker = ((torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2 * 255).to(torch.uint8).expand(3, 8, 8)
    assert patch_detail(checker) == 255.0
    ramp = (torch.arange(8) * 10).to(torch.uint8).expand(3, 8, 8)  # 10 levels a step across, none down
    assert patch_detail(ramp) == pytest.approx(5.0)


def _half_flat_folder(tmp_path):
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    hr = torch.full((3, 96, 96), 120, dtype=torch.uint8)
    hr[:, :, 48:] = torch.randint(0, 256, (3, 96, 48), generator=g, dtype=torch.uint8)
    (tmp_path / "hr").mkdir()
    Image.fromarray(hr.permute(1, 2, 0).numpy()).save(tmp_path / "hr" / "half.png")
    return load_images([str(tmp_path / "hr")], None, 2, "cached")


def test_min_detail_draws_flat_patches_again(tmp_path):
    from rlfn.train.data import patch_detail

    images = _half_flat_folder(tmp_path)
    plain = PatchDataset(images, 2, 8, augment=False, seed=1)
    picky = PatchDataset(images, 2, 8, augment=False, seed=1, min_detail=20.0)
    flat = lambda ds: sum(patch_detail(ds[i][1]) < 20 for i in range(300))  # noqa: E731
    assert flat(plain) > 60  # about half the 16² HR patches lie mostly in the flat half
    assert flat(picky) < 5  # a flat draw survives only if all 8 draws are flat
    assert all(torch.equal(a, b) for a, b in zip(picky[7], picky[7]))  # still a pure function of the index


def test_min_detail_keeps_the_first_draw_when_it_passes(tmp_path):
    images = load_images([str(make_images(tmp_path / "hr", n=2))], None, 2, "cached")
    plain = PatchDataset(images, 2, 16, seed=2)
    low = PatchDataset(images, 2, 16, seed=2, min_detail=0.5)  # every patch of these images passes
    assert all(torch.equal(plain[i][1], low[i][1]) and torch.equal(plain[i][0], low[i][0]) for i in range(20))


def test_min_detail_config_check():
    from rlfn.train.config import build_config

    for bad in (-1, 255):
        with pytest.raises(ConfigError, match=r"data\.min_detail: give 8-bit levels in \[0, 255\)"):
            build_config({"data": {"hr_dirs": ["a"], "min_detail": bad}})
    assert build_config({"data": {"hr_dirs": ["a"], "min_detail": 6}}).stages[0].data.min_detail == 6
