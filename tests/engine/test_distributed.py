"""DDP: 2 gloo processes on the CPU compute the same losses as 1 process on the same global batch."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import _engine_fixtures as fx
from freqfusion_edu.engine.distributed import ResumableDistributedSampler, all_reduce_sum
from freqfusion_edu.engine.train import train

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {here!r})
    import torch.distributed as dist
    import _engine_fixtures as fx
    from freqfusion_edu.engine.train import train
    cfg = fx.tiny_config(sys.argv[1], train={{"max_iters": 3, "checkpoint_every": 0}},
                         data={{"batch_size": 2}}, model={{}})
    r = train(cfg, build_model_fn=fx.build_model_no_dropout, build_data_fn=fx.build_data, log=None)
    assert not dist.is_initialized(), "train() must leave the process group it joined"
    import os
    json.dump({{"losses": r.losses, "w": r.model.head.weight.flatten().tolist()}},
              open(sys.argv[2] + "." + os.environ["RANK"], "w"))
""")


def test_sampler_splits_global_batches_the_same_way():
    one = iter(ResumableDistributedSampler(16, batch_size=4, num_replicas=1, rank=0, seed=3))
    r0 = iter(ResumableDistributedSampler(16, batch_size=2, num_replicas=2, rank=0, seed=3))
    r1 = iter(ResumableDistributedSampler(16, batch_size=2, num_replicas=2, rank=1, seed=3))
    for _ in range(6):  # global batches, across an epoch boundary
        single = {next(one) for _ in range(4)}
        split = {next(r0) for _ in range(2)} | {next(r1) for _ in range(2)}
        assert single == split       # same images *and* the same augmentation seeds


def test_all_reduce_is_identity_in_one_process():
    assert all_reduce_sum(torch.tensor([3, 4])).tolist() == [3, 4]


@pytest.mark.slow  # a subprocess or a training run: several seconds
def test_two_gloo_processes_equal_one(tmp_path):
    script = tmp_path / "ddp_job.py"
    script.write_text(SCRIPT.format(here=str(HERE)))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(tmp_path / "ddp_out"), str(tmp_path / "res")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"res.{r}").read_text()) for r in (0, 1)]
    assert ranks[0]["losses"] == ranks[1]["losses"]             # every rank reports the global loss
    # one process, the same global batch (2 processes x 2 images = 4)
    cfg = fx.tiny_config(tmp_path / "single", train={"max_iters": 3, "checkpoint_every": 0},
                         data={"batch_size": 4})
    single = train(cfg, build_model_fn=fx.build_model_no_dropout, build_data_fn=fx.build_data, log=None)
    got = [l for _, l in ranks[0]["losses"]]
    want = [l for _, l in single.losses]
    assert got == pytest.approx(want, abs=1e-5)
    torch.testing.assert_close(torch.tensor(ranks[0]["w"]),
                               single.model.head.weight.flatten(), atol=1e-5, rtol=1e-4)
    assert (tmp_path / "ddp_out" / "last.pt").exists()
