"""``rlfn upscale --ray`` and :func:`rlfn.ray.upscale_dataset` on a local Ray (2 CPUs, no dashboard, no
network): the same bytes as ``rlfn upscale`` on a folder of mixed images, a bad image as a manifest row, no image
lost or written twice when an actor dies, a resumed job doing only the rest; without Ray, one line."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rlfn import cli
from rlfn.errors import ImageError
from rlfn.io.images import Picture, load_picture, save_picture

from _images import random_weights

try:
    import ray
    import ray.data  # noqa: F401
    from ray import cloudpickle
except ImportError:
    ray = None

needs_ray = pytest.mark.skipif(ray is None, reason='Ray Data is not installed (pip install "rlfn[ray]")')
RNG = np.random.default_rng(0)
W, H = 24, 20


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One local Ray for the module (starting one takes 10-20 s on 2 cores); stopped at the end."""
    if ray is None:
        pytest.skip('Ray Data is not installed (pip install "rlfn[ray]")')
    import _ray_helpers

    # Ray starts its workers at nice 15; beside a busy process they would barely run. Read by the raylet.
    os.environ.setdefault("RAY_worker_niceness", "0")
    temp = Path("/tmp") / f"rlfn-ray-{os.getpid()}"  # short: Ray's socket paths must fit 107 bytes
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024**2, log_to_driver=False,
             _temp_dir=str(temp))
    cloudpickle.register_pickle_by_value(_ray_helpers)
    yield _ray_helpers
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return random_weights(tmp_path_factory.mktemp("w"))


def _mixed_folder(folder: Path) -> None:
    """8 and 16 bits, alpha, grey, grey + alpha, an EXIF-rotated JPEG with an ICC profile, and a corrupt PNG."""
    folder.mkdir()
    rgba = RNG.integers(0, 256, size=(H, W, 4), dtype=np.uint8)
    Image.fromarray(rgba[:, :, :3]).save(folder / "rgb.png")
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    Image.fromarray(rgba[:, :, 0]).save(folder / "grey.png")
    Image.fromarray(rgba[:, :, :2], "LA").save(folder / "grey_alpha.png")
    save_picture(Picture(RNG.integers(0, 65536, size=(H, W, 3), dtype=np.uint16)), folder / "deep.png")
    save_picture(Picture(RNG.integers(0, 65536, size=(H, W, 1), dtype=np.uint16)), folder / "deep_grey.tif")
    im = Image.fromarray(rgba[:, :, :3])
    exif = im.getexif()
    exif[0x0112] = 6  # shown rotated by 90°
    exif[0x010F] = "rlfn-test-camera"
    im.save(folder / "rotated.jpg", exif=exif.tobytes(), icc_profile=b"opaque-icc-bytes" * 8, quality=90)
    good = (folder / "rgb.png").read_bytes()
    (folder / "corrupt.png").write_bytes(good[: len(good) // 2])


GOOD = ["deep.png", "deep_grey.tif", "grey.png", "grey_alpha.png", "rgb.png", "rgba.png", "rotated.jpg"]


def _out_name(name: str) -> str:
    stem, ext = name.rsplit(".", 1)
    return f"{stem}_x2.{ext}"


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, weights):
    """The mixed folder and what ``rlfn upscale`` of it writes (the reference)."""
    root = tmp_path_factory.mktemp("mixed")
    _mixed_folder(root / "in")
    rc = cli.main(["upscale", str(root / "in"), "-o", str(root / "ref"), "--weights", str(weights), "-q"])
    assert rc == 1  # the corrupt one
    assert sorted(p.name for p in (root / "ref").iterdir()) == sorted(map(_out_name, GOOD))
    return root / "in", root / "ref"


def _same_as_reference(out: Path, ref: Path) -> None:
    for name in map(_out_name, GOOD):
        a, b = load_picture(out / name), load_picture(ref / name)
        assert a.pixels.dtype == b.pixels.dtype and a.pixels.shape == b.pixels.shape, name
        np.testing.assert_array_equal(a.pixels, b.pixels, err_msg=name)
        assert (a.icc, a.exif) == (b.icc, b.exif), name
        assert (out / name).read_bytes() == (ref / name).read_bytes(), name  # metadata too, byte for byte


def _rows_by_input(rows: list[dict]) -> dict[str, list[dict]]:
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(Path(r["input"]).name, []).append(r)
    return by


@needs_ray
def test_mixed_folder_same_bytes_as_rlfn_upscale_and_corrupt_in_manifest(cluster, mixed, weights, tmp_path):
    from rlfn.ray import upscale_dataset

    src, ref = mixed
    seen = []
    res = upscale_dataset([str(src)], tmp_path / "out", weights=weights, concurrency=2, batch_size=2,
                          on_row=lambda row, total: seen.append(total))
    _same_as_reference(tmp_path / "out", ref)
    by = _rows_by_input(res.rows)
    assert sorted(by) == sorted([*GOOD, "corrupt.png"]) and all(len(v) == 1 for v in by.values())
    bad = by["corrupt.png"][0]
    assert bad["status"] == "failed" and "corrupt.png" in bad["error"] and bad["output"].endswith("corrupt_x2.png")
    assert not (tmp_path / "out" / "corrupt_x2.png").exists()
    rot = by["rotated.jpg"][0]
    assert rot["status"] == "done" and (rot["width_in"], rot["height_in"]) == (H, W)  # rotated by its EXIF
    assert (rot["width_out"], rot["height_out"]) == (2 * H, 2 * W) and rot["seconds"] > 0
    assert res.summary.line().startswith("7 upscaled, 1 failed in ")
    on_disk = [json.loads(line) for line in Path(res.manifest).read_text().splitlines()]
    assert Path(res.manifest) == tmp_path / "out" / "rlfn-manifest.jsonl"
    assert sorted(json.dumps(r, sort_keys=True) for r in on_disk) == sorted(json.dumps(r, sort_keys=True)
                                                                           for r in res.rows)
    assert seen == [8] * 8
    assert not [p for p in (tmp_path / "out").rglob("*") if ".part" in p.name]


@needs_ray
def test_cli_ray_prints_the_summary_and_the_manifest(cluster, mixed, weights, tmp_path, capsys):
    """The CLI on the session the test holds (``--ray auto`` joins it), one line per image and the summary."""
    src, ref = mixed
    rc = cli.main(["upscale", str(src / "rgb.png"), str(src / "corrupt.png"), "-o", str(tmp_path / "o"),
                   "--weights", str(weights), "--ray"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "rlfn upscale: error: " in err and "corrupt.png" in err
    assert "1 upscaled, 1 failed in " in err and f"manifest: {tmp_path / 'o' / 'rlfn-manifest.jsonl'}" in err
    assert (tmp_path / "o" / "rgb_x2.png").read_bytes() == (ref / "rgb_x2.png").read_bytes()
    assert ray.is_initialized()  # joined, not started: left connected for the other tests


@needs_ray
def test_an_actor_killed_mid_job_loses_no_image_and_writes_none_twice(cluster, mixed, weights, tmp_path):
    from rlfn.ray import upscale_dataset

    src, ref = mixed
    cluster.KillOnce.marker = str(tmp_path / "killed")
    res = upscale_dataset([str(src)], tmp_path / "out", weights=weights, concurrency=2, batch_size=3,
                          worker=cluster.KillOnce)
    assert (tmp_path / "killed").exists()  # the kill happened
    by = _rows_by_input(res.rows)
    assert all(len(v) == 1 for v in by.values()) and sorted(by) == sorted([*GOOD, "corrupt.png"])
    status = {k: v[0]["status"] for k, v in by.items()}
    # the image the killed attempt wrote is found by the retried task and not written again
    assert sorted(status.values()) == sorted(["failed", "skipped"] + ["done"] * (len(GOOD) - 1)), status
    _same_as_reference(tmp_path / "out", ref)
    assert not [p for p in (tmp_path / "out").rglob("*") if ".part" in p.name]


def _wait_for_idle_cluster(timeout: float = 60.0) -> None:
    """Return when every CPU of the local Ray is free again, i.e. the last job's actors have exited."""
    deadline = time.monotonic() + timeout
    while ray.available_resources().get("CPU", 0) < ray.cluster_resources().get("CPU", 0):
        assert time.monotonic() < deadline, "the interrupted job's actors did not exit in time"
        time.sleep(0.2)


@needs_ray
def test_an_interrupted_job_rerun_does_only_the_rest(cluster, mixed, weights, tmp_path):
    from rlfn.ray import upscale_dataset

    src, ref = mixed
    out = tmp_path / "out"

    def stop_after_two(row: dict, total: int) -> None:
        done.append(row["status"])
        if done.count("done") == 2:
            raise KeyboardInterrupt  # as Ctrl-C in the CLI

    done: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        upscale_dataset([str(src)], out, weights=weights, concurrency=1, batch_size=1, on_row=stop_after_two,
                        worker=cluster.Slowed)  # else it could run ahead to the end
    # The actor may finish the image it holds before it exits (its write is atomic): wait until it has gone,
    # then what is on disk is all the interrupted job will ever write.
    _wait_for_idle_cluster()
    assert not [p for p in out.rglob("*") if ".part" in p.name]
    first = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*_x2.*")}
    assert 2 <= len(first) < len(GOOD), first
    partial = [json.loads(line) for line in (out / "rlfn-manifest.jsonl").read_text().splitlines()]
    assert [r["status"] for r in partial].count("done") == 2  # what the interrupted run saw, saved

    res = upscale_dataset([str(src)], out, weights=weights, concurrency=1, batch_size=1)
    status = {Path(r["input"]).name: r["status"] for r in res.rows}
    assert {n for n, s in status.items() if s == "skipped"} == {n for n in GOOD if _out_name(n) in first}
    assert {n for n, s in status.items() if s == "done"} == {n for n in GOOD if _out_name(n) not in first}
    assert status["corrupt.png"] == "failed"
    assert {n: (p.stat().st_ino, p.stat().st_mtime_ns) for n, p in ((n, out / n) for n in first)} == first
    _same_as_reference(out, ref)


@needs_ray
def test_a_dataset_of_paths_into_a_file_uri(cluster, mixed, weights, tmp_path):
    """A Ray Dataset of paths in (a missing one among them), a ``file://`` URI out, another manifest place."""
    from rlfn.inference.batch import BatchOptions
    from rlfn.ray import upscale_dataset

    src, ref = mixed
    paths = ray.data.from_items([{"path": str(src / "rgba.png")}, {"path": str(src / "gone.png")}])
    res = upscale_dataset(paths, (tmp_path / "o").as_uri(), weights=weights, options=BatchOptions(suffix="-big"),
                          manifest_path=tmp_path / "m.jsonl")
    status = {Path(r["input"]).name: (r["status"], r["error"]) for r in res.rows}
    assert status["rgba.png"] == ("done", None)
    assert status["gone.png"][0] == "failed" and "gone.png: no such file" in status["gone.png"][1]
    assert (tmp_path / "o" / "rgba-big.png").read_bytes() == (ref / "rgba_x2.png").read_bytes()
    assert len((tmp_path / "m.jsonl").read_text().splitlines()) == 2 and not (tmp_path / "o" / "rlfn-manifest.jsonl").exists()


def test_bytes_decode_as_the_file_does(tmp_path):
    """What the actors do (the bytes, read from any filesystem) gives the picture that the file gives: 16-bit
    colour TIFF and grey + alpha PNG included, which the mixed folder has not; a damaged file names itself."""
    pytest.importorskip("cv2")
    pytest.importorskip("tifffile")
    _mixed_folder(tmp_path / "in")
    save_picture(Picture(RNG.integers(0, 65536, size=(H, W, 4), dtype=np.uint16)), tmp_path / "in" / "deep.tif")
    save_picture(Picture(RNG.integers(0, 65536, size=(H, W, 2), dtype=np.uint16)), tmp_path / "in" / "deep_la.png")
    for f in sorted((tmp_path / "in").iterdir()):
        if f.name == "corrupt.png":
            with pytest.raises(ImageError, match="s3://b/corrupt.png: cannot decode image"):
                load_picture("s3://b/corrupt.png", data=f.read_bytes())
            continue
        a, b = load_picture(f), load_picture(f"s3://b/{f.name}", data=f.read_bytes())
        assert a.pixels.dtype == b.pixels.dtype, f.name
        np.testing.assert_array_equal(a.pixels, b.pixels, err_msg=f.name)
        assert (a.icc, a.exif, a.dpi, a.format) == (b.icc, b.exif, b.dpi, b.format), f.name


def test_without_ray_the_flag_says_how_to_install_it(tmp_path):
    """A ``ray`` that cannot be imported (a stand-in package first on the path), in a child process."""
    fake = tmp_path / "site" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run([sys.executable, "-m", "rlfn", "upscale", "a.png", "-o", str(tmp_path / "o"), "--ray"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode != 0
    assert p.stderr.strip().count("\n") == 0 and 'pip install "rlfn[ray]"' in p.stderr, p.stderr
    assert not (tmp_path / "o").exists()


def test_actors_the_cluster_cannot_place_are_refused_in_one_line(cluster, mixed, weights, tmp_path, capsys):
    # Ray Data would wait for ever for a GPU actor on a cluster without GPUs
    rc = cli.main(["upscale", str(mixed[0]), "-o", str(tmp_path / "out"), "--weights", str(weights), "--ray", "auto",
                   "--gpus-per-actor", "1", "-q"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "GPUs" in err and "Traceback" not in err, err
