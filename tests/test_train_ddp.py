"""Two gloo processes under torchrun on the CPU: the run finishes, learns, and only rank 0 writes."""
import json
import os
import subprocess
import sys

import pytest
import yaml

from _train_helpers import tiny_config


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path):
    cfg = tiny_config(tmp_path, train={"steps": 8, "threads": 1, "checkpoint_every": 4})
    raw = cfg.to_dict()
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "rlfn", "train", str(path), "--device", "cpu", "--quiet"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "run"
    log = (run / "train.log").read_text()
    assert "2 process(es)" in log and "batch 4×2=8" in log
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in recs if r["kind"] == "train"]
    assert len(losses) == 8  # one writer
    assert sum(losses[-2:]) < 0.8 * sum(losses[:2])
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    assert (run / "rlfn_s_x2.safetensors").exists()
    assert r.stdout.strip().splitlines() == [str(run / "rlfn_s_x2.safetensors")]  # printed once, by rank 0
