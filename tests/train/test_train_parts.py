"""Unit tests of the small parts: schedule, losses, metrics, the step guard, SyncBN, recorder."""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import pytest
import torch
from torch import nn

from stablespike import TrLIF
from stablespike.core.errors import NonFiniteError
from stablespike.train.config import TrainConfig
from stablespike.train.losses import build_loss, mean_ce_loss, tet_loss
from stablespike.train.metrics import ClassificationMeter, FiringRates, correct_per_timestep
from stablespike.train.optim import build_optimizer, build_scheduler, lr_factor
from stablespike.train.progress import EpochProgress
from stablespike.train.recorder import RunRecorder
from stablespike.train.step import StepRunner, resolve_amp
from stablespike.train.syncbn import GlooSyncBatchNorm, convert_sync_batchnorm


def test_warmup_then_cosine_per_step() -> None:
    cfg = TrainConfig(lr=0.1, min_lr=0.01, epochs=2, warmup_epochs=0.5).validate()
    model = nn.Linear(2, 2)
    opt = build_optimizer(model, cfg)
    sched = build_scheduler(opt, cfg, steps_per_epoch=10)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:5] == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1])
    assert lrs[5] == pytest.approx(0.1) and lrs[-1] > 0.01
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)
    assert all(a >= b for a, b in zip(lrs[5:], lrs[6:], strict=False))
    assert lr_factor(7, total=10, warmup=0, floor=0.0, cosine=False) == 1.0


def test_optimizers_and_decay_scope() -> None:
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    sgd = build_optimizer(
        model, TrainConfig(optimizer="sgd", weight_decay=5e-4, decay_scope="weights")
    )
    assert isinstance(sgd, torch.optim.SGD)
    assert [g["weight_decay"] for g in sgd.param_groups] == [5e-4, 0.0]
    assert len(sgd.param_groups[0]["params"]) == 1  # only the Linear weight decays
    adamw = build_optimizer(model, TrainConfig(optimizer="adamw", momentum=0.8))
    assert isinstance(adamw, torch.optim.AdamW) and adamw.defaults["betas"] == (0.8, 0.999)


def test_losses() -> None:
    logits = torch.randn(3, 5, 4)
    y = torch.randint(0, 4, (5,))
    ce = nn.functional.cross_entropy(logits.mean(0), y)
    assert torch.allclose(build_loss("ce")(logits, y), ce)
    per_t = sum(nn.functional.cross_entropy(logits[t], y) for t in range(3)) / 3
    assert torch.allclose(tet_loss(logits, y, lam=0.0), per_t)
    mse = ((logits - 1) ** 2).mean()
    assert torch.allclose(build_loss("tet", tet_lambda=0.1)(logits, y), 0.9 * per_t + 0.1 * mse)
    smoothed = mean_ce_loss(logits, y, label_smoothing=0.1)
    assert not torch.allclose(smoothed, ce)
    with pytest.raises(ValueError, match=r"per-timestep logits \[T, B, K\]"):
        mean_ce_loss(logits.mean(0), y)


def test_accuracy_per_timestep_is_the_early_readout() -> None:
    logits = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 3.0], [0.0, 1.0]]])  # T=2, B=2
    y = torch.tensor([1, 1])
    assert correct_per_timestep(logits, y).tolist() == [1, 2]
    meter = ClassificationMeter()
    meter.update(logits, y, loss=0.25)
    assert meter.accuracy_per_timestep() == [50.0, 100.0] and meter.loss == 0.25
    again = ClassificationMeter()
    again.load_state(meter.state())
    assert again.accuracy_per_timestep() == [50.0, 100.0]


def test_firing_rates_count_nonzero_outputs() -> None:
    lif = TrLIF(mp_init=False)
    rates = FiringRates([("lif", lif)])
    x = torch.zeros(2, 1, 4)
    x[:, :, :1] = 5.0  # one neuron of four fires at both steps
    with rates.attached():
        lif(x)
    assert rates.rates() == {"lif": 0.25}
    lif(x)  # detached: no longer counted
    assert rates.total.tolist() == [8.0]


class _Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.bn = nn.BatchNorm1d(2)
        self.poison = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [T, B, 3] -> [T, B, 2]
        out = self.bn(self.fc(x.flatten(0, 1))).unflatten(0, x.shape[:2])
        return out * math.nan if self.poison else out


def _runner(model: nn.Module, skip: bool) -> StepRunner:
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    return StepRunner(model, opt, sched, build_loss("ce"), skip_nonfinite=skip)


def test_step_guard_stops_or_skips_without_touching_weights_or_buffers() -> None:
    x, y = torch.randn(2, 4, 3), torch.tensor([0, 1, 0, 1])
    model = _Toy()
    runner = _runner(model, skip=False)
    runner(x, y)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.poison = True
    with pytest.raises(NonFiniteError, match=r"non-finite loss \(nan\)"):
        runner(x, y)
    assert all(torch.equal(before[k], p) for k, p in model.named_parameters())
    skipper = _runner(model, skip=True)
    model.load_state_dict(before)
    result = skipper(x, y)
    assert result.skipped == "non-finite loss (nan)"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert skipper.scheduler.last_epoch == 1  # the step is consumed


def test_gloo_syncbn_is_plain_batchnorm_in_one_process() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))
    net[1].running_mean.fill_(0.5)
    ref = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))
    ref.load_state_dict(net.state_dict())
    conv = convert_sync_batchnorm(net)
    assert isinstance(conv[1], GlooSyncBatchNorm)
    assert torch.equal(conv[1].running_mean, ref[1].running_mean)
    x = torch.randn(4, 2, 3, 3)
    assert torch.allclose(conv(x), ref(x))
    assert torch.allclose(conv[1].running_var, ref[1].running_var)


def test_amp_resolution() -> None:
    cpu = torch.device("cpu")
    assert resolve_amp("auto", cpu) is None and resolve_amp("bf16", cpu) is torch.bfloat16
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        resolve_amp("fp16", cpu)


def test_recorder_rewrites_metrics_from_history_on_resume(tmp_path: Path) -> None:
    rec = RunRecorder(tmp_path, enabled=True, tensorboard=False)
    rec.start(history=[])
    for epoch in (1, 2, 3):
        rec.log_epoch({"epoch": epoch, "acc": 10.0 * epoch})
    resumed = RunRecorder(tmp_path, enabled=True, tensorboard=False)
    resumed.start(history=[{"epoch": 1, "acc": 10.0}])  # the checkpoint knew only epoch 1
    resumed.log_epoch({"epoch": 2, "acc": 21.0})
    assert rec.metrics_path.read_text().splitlines() == ["epoch,acc", "1,10.0", "2,21.0"]
    RunRecorder(tmp_path / "off", enabled=False, tensorboard=False).start(history=[])
    assert not (tmp_path / "off").exists()


def test_progress_bar_shows_loss_accuracy_throughput(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    bar = EpochProgress(epoch=1, epochs=2, total=3, enabled=True)
    for _ in range(3):
        bar.update(16, loss=0.5, acc=75.0)
    bar.bar.refresh()
    bar.close()
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "loss 0.5000 acc 75.00%" in err and "img/s" in err
    assert EpochProgress(epoch=1, epochs=1, total=1, enabled=False).bar is None


def test_metrics_also_go_to_tensorboard_when_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scalars: list[tuple[str, float, int]] = []

    class FakeWriter:
        def __init__(self, log_dir: str, purge_step: int | None = None) -> None:
            assert log_dir.endswith("tb") and purge_step == 2

        def add_scalar(self, tag: str, value: float, step: int) -> None:
            scalars.append((tag, value, step))

        def flush(self) -> None: ...

        def close(self) -> None: ...

    monkeypatch.setitem(
        sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=FakeWriter)
    )
    rec = RunRecorder(tmp_path, enabled=True, tensorboard=True)
    rec.start(history=[{"epoch": 1, "test_acc": 50.0}])
    rec.log_epoch({"epoch": 2, "test_acc": 60.0, "train_loss": 0.3})
    rec.close()
    assert scalars == [("test/acc", 60.0, 2), ("train/loss", 0.3, 2)]


def test_timesteps_reach_event_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--timesteps`` sets the frames per sample of event data (and nothing for images)."""
    from stablespike.train import batches
    from stablespike.train.config import TrainConfig

    seen: dict[str, dict] = {}

    class Stop(Exception):
        pass

    def fake_build(name, data_dir=None, **options):
        seen[name] = options
        raise Stop

    monkeypatch.setattr(batches, "build_datasets", fake_build)
    for name in ("cifar10-dvs", "fashion-mnist"):
        with pytest.raises(Stop):
            batches.TrainData.build(TrainConfig(dataset=name, timesteps=6), ctx=None)
    assert seen["cifar10-dvs"]["time_steps"] == 6
    assert "time_steps" not in seen["fashion-mnist"]


def test_short_run_warning_for_unsettled_batchnorm() -> None:
    from torch import nn

    from stablespike.train.loop import short_run_warning

    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.BatchNorm1d(2, momentum=0.3))
    note = short_run_warning(net, total_steps=20)
    assert note is not None and "momentum 0.1" in note and "12%" in note and "44 steps" in note
    assert short_run_warning(net, total_steps=44) is None  # 0.9^44 < 1 %
    assert short_run_warning(nn.Sequential(nn.Conv2d(1, 2, 3)), total_steps=1) is None
    assert short_run_warning(nn.Sequential(nn.BatchNorm2d(2, momentum=None)), 1) is None
