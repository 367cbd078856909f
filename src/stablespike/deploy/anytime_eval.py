"""``stablespike eval RUN --anytime``: what stopping early buys, per exit-policy setting.

One step-by-step pass over the data with a never-firing policy records, per sample, the per-step
logits and the synaptic operations of every step (:class:`~stablespike.deploy.AnytimeNet` with
``count_ops=True``). Because step ``t``'s output depends only on steps ``1..t``, every policy
setting's exits follow from that record exactly (:func:`~stablespike.deploy.exit_steps`), so a
sweep of many settings costs one pass. For each setting the sweep reports accuracy, the mean and
the distribution of timesteps used, accumulates (AC) and multiply-accumulates (MAC) per image and
the 45 nm energy ``0.9 pJ * AC + 4.6 pJ * MAC`` (:mod:`stablespike.analysis.synops`), next to the
full-``T`` run.

With ``target_drop`` the cheapest setting (least energy) whose accuracy on a calibration part of
the *training* set is within ``target_drop`` points of the full-``T`` accuracy there is chosen,
measured on the test set by really running the anytime module with it, and saved next to the
checkpoint (``best.pt`` -> ``best.anytime.json``; :func:`saved_policy` reads it back).

Example::

    from stablespike.deploy.anytime_eval import evaluate_anytime
    report = evaluate_anytime("runs/fashion-mnist", kind="confidence", target_drop=0.5)
    report["rows"][0]["accuracy"], report["chosen"]["policy"]
"""

from __future__ import annotations

import json
import os
from collections.abc import Sized
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack, cast

import torch

from ..analysis.synops import E_AC_PJ, E_MAC_PJ
from .anytime import anytime
from .policy import ExitPolicy, exit_steps

if TYPE_CHECKING:
    from ..train.trained_model import EvalOverrides

__all__ = [
    "DEFAULT_VALUES",
    "Record",
    "evaluate_anytime",
    "format_anytime_report",
    "plot_anytime",
    "policy_path",
    "record_anytime",
    "saved_policy",
    "sweep",
]

DEFAULT_VALUES: dict[str, tuple[float, ...]] = {
    "confidence": (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9999),
    "margin": (0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999),
    "stable": (1, 2, 3, 4, 5, 6, 7, 8),
}
"""The parameter values a sweep tries per policy kind (``stable`` is cut at ``T``)."""


class Record:
    """Per-step logits ``[T, N, K]``, labels ``[N]`` and per-step AC / MAC ``[T, N]`` of a pass."""

    def __init__(
        self, outputs: torch.Tensor, targets: torch.Tensor, ac: torch.Tensor, mac: torch.Tensor
    ) -> None:
        self.outputs, self.targets, self.ac, self.mac = outputs, targets, ac, mac

    @property
    def timesteps(self) -> int:
        return int(self.outputs.shape[0])

    def row(self, policy: ExitPolicy) -> dict[str, Any]:
        """Accuracy, timesteps and cost per image of ``policy`` on this record."""
        steps, logits = exit_steps(policy, self.outputs)
        used = torch.arange(self.timesteps).view(-1, 1) < steps.view(1, -1)  # [T, N]
        n = int(self.targets.numel())
        ac = float((self.ac * used).sum()) / n
        mac = float((self.mac * used).sum()) / n
        counts = torch.bincount(steps - 1, minlength=self.timesteps)
        return {
            "policy": str(policy),
            "accuracy": 100.0 * float((logits.argmax(-1) == self.targets).double().mean()),
            "mean_steps": float(steps.double().mean()),
            "steps_share": [100.0 * float(c) / n for c in counts.tolist()],
            "ac": ac,
            "mac": mac,
            "energy_uj": (E_AC_PJ * ac + E_MAC_PJ * mac) / 1e6,
        }


@torch.no_grad()
def record_anytime(model: torch.nn.Module, batches: Any) -> Record:
    """Run ``model`` step by step over ``batches`` of ``(x, y)``; keep what a sweep needs."""
    net = anytime(model, "never", count_ops=True)
    outs, ys, acs, macs = [], [], [], []
    for x, y in batches:
        res = net(x)
        outs.append(res.outputs.float().cpu())
        ys.append(y.cpu())
        acs.append(res.ac.cpu())
        macs.append(res.mac.cpu())
    if not ys:
        raise ValueError("no batches to evaluate")
    return Record(torch.cat(outs, 1), torch.cat(ys), torch.cat(acs, 1), torch.cat(macs, 1))


def sweep(record: Record, kind: str, values: tuple[float, ...] | None = None) -> list[dict]:
    """The full-``T`` row (``never``) followed by one row per value of ``kind``."""
    if values is None:
        if kind not in DEFAULT_VALUES:
            raise ValueError(
                f"unknown policy kind {kind!r}; expected one of {list(DEFAULT_VALUES)}"
            )
        values = DEFAULT_VALUES[kind]
    if kind == "stable":
        values = tuple(v for v in values if v <= record.timesteps)
    full = record.row(ExitPolicy("never"))
    rows = [full]
    for value in values:
        row = record.row(ExitPolicy(kind, value))
        row["accuracy_drop"] = full["accuracy"] - row["accuracy"]
        row["energy_saved"] = 100.0 * (1.0 - row["energy_uj"] / full["energy_uj"])
        row["steps_saved"] = 100.0 * (1.0 - row["mean_steps"] / full["mean_steps"])
        rows.append(row)
    full.update(accuracy_drop=0.0, energy_saved=0.0, steps_saved=0.0)
    return rows


def choose(rows: list[dict], target_drop: float) -> dict:
    """The least-energy row whose accuracy drop is at most ``target_drop`` points."""
    if target_drop < 0:
        raise ValueError(
            f"--anytime-target is an accuracy drop in points (>= 0), got {target_drop}"
        )
    ok = [r for r in rows if r["accuracy_drop"] <= target_drop + 1e-9]
    return min(ok, key=lambda r: (r["energy_uj"], r["mean_steps"]))


def policy_path(checkpoint: str | os.PathLike[str]) -> Path:
    """Where the chosen policy of ``checkpoint`` is kept: ``best.pt`` -> ``best.anytime.json``."""
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "best.pt"
    return path.with_suffix(".anytime.json")


def saved_policy(checkpoint: str | os.PathLike[str]) -> ExitPolicy:
    """The policy that ``stablespike eval CHECKPOINT --anytime-target`` saved for it."""
    path = policy_path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: run `stablespike eval {checkpoint} --anytime "
            "--anytime-target DROP` first"
        )
    return ExitPolicy.from_dict(json.loads(path.read_text())["policy"])


def _calibration_batches(cfg: Any, size: int, batch_size: int, device: torch.device) -> Any:
    from ..data import BatchLoader, build_datasets, dataset_options
    from ..train.batches import _IndexView, to_time_major

    options = {}
    if "time_steps" in dataset_options(cfg.dataset):
        options["time_steps"] = cfg.timesteps
    bundle = build_datasets(cfg.dataset, cfg.data_dir or None, augment=False, **options)
    n = len(cast(Sized, bundle.train))  # map-style datasets
    if not 0 < size <= n:
        raise ValueError(f"--anytime-calibration must be in 1..{n} (the training set), got {size}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed))[:size]
    loader = BatchLoader(_IndexView(bundle.train, order.sort().values), batch_size, shuffle=False)
    for x, y in loader:
        yield to_time_major(x, bundle.is_sequence).to(device), y.to(device)


def evaluate_anytime(
    checkpoint: str | os.PathLike[str],
    *,
    kind: str = "confidence",
    values: tuple[float, ...] | None = None,
    target_drop: float | None = None,
    calibration: int = 5000,
    save: bool = True,
    **overrides: Unpack[EvalOverrides],
) -> dict[str, Any]:
    """The anytime sweep of ``checkpoint`` on its test set (see the module docstring).

    ``overrides``: ``device`` (default ``auto``), ``data_dir``, ``batch_size``, ``timesteps``,
    ``threads``, ``dataset`` (:func:`~stablespike.train.open_for_eval`).
    """
    from ..core.errors import ConfigError
    from ..core.fileio import atomic_write_text
    from ..train.trained_model import open_for_eval

    if kind not in DEFAULT_VALUES:
        raise ConfigError(
            f"--anytime: unknown policy {kind!r}; expected one of {list(DEFAULT_VALUES)}"
        )
    for value in values or ():
        ExitPolicy(kind, value)  # validates before the expensive part
    with open_for_eval(checkpoint, **overrides) as run:
        if run.ctx.world_size != 1:
            raise ConfigError("--anytime runs in one process")
        path, cfg, model = run.path, run.config, run.model
        test = record_anytime(model, run.test_batches())
        rows = sweep(test, kind, values)
        report: dict[str, Any] = {
            "checkpoint": str(path),
            "dataset": run.dataset,
            "model": cfg.model,
            "mp_init": bool(cfg.mp_init),
            "timesteps": test.timesteps,
            "samples": int(test.targets.numel()),
            "kind": kind,
            "rows": rows,
            "e_ac_pj": E_AC_PJ,
            "e_mac_pj": E_MAC_PJ,
        }
        if target_drop is not None:
            calib = record_anytime(
                model, _calibration_batches(cfg, calibration, cfg.eval_batch_size, run.device)
            )
            calib_rows = sweep(calib, kind, values)
            pick = choose(calib_rows, target_drop)
            policy = ExitPolicy.parse(pick["policy"])
            measured = _measure(model, policy, run.test_batches())
            chosen = {
                "policy": policy.to_dict(),
                "target_drop_points": target_drop,
                "calibration": {"samples": int(calib.targets.numel()), "seed": cfg.seed, **pick},
                "calibration_full_accuracy": calib_rows[0]["accuracy"],
                "test": next(r for r in rows if r["policy"] == str(policy)),
                "test_measured": measured,
            }
            report["chosen"] = chosen
            if save:
                target = policy_path(path)
                atomic_write_text(target, json.dumps(chosen, indent=2) + "\n")
                report["policy_file"] = str(target)
        return report


@torch.no_grad()
def _measure(model: torch.nn.Module, policy: ExitPolicy, batches: Any) -> dict[str, float]:
    """Accuracy and mean timesteps of really running the anytime module with ``policy``."""
    net = anytime(model, policy)
    correct = steps = n = 0
    for x, y in batches:
        res = net(x)
        correct += int((res.logits.argmax(-1) == y).sum())
        steps += int(res.steps.sum())
        n += int(y.numel())
    return {"accuracy": 100.0 * correct / n, "mean_steps": steps / n}


def format_anytime_report(report: dict[str, Any]) -> str:
    """The printed sweep table (and the chosen policy, when one was chosen)."""
    T = report["timesteps"]
    head = (
        f"checkpoint {report['checkpoint']}: {report['model']} on {report['dataset']}, T={T}, "
        f"{report['samples']} test samples; anytime sweep of '{report['kind']}' "
        f"(energy = {report['e_ac_pj']} pJ/AC + {report['e_mac_pj']} pJ/MAC)"
    )
    cols = " ".join(f"t={t:<4d}" for t in range(1, T + 1))
    lines = [
        head,
        f"{'policy':<18} {'acc %':>7} {'drop':>6} {'steps':>6} {'saved':>6} {'AC/img':>10} "
        f"{'MAC/img':>10} {'uJ/img':>7} {'saved':>6}  steps used (% of images): {cols}",
    ]
    for r in report["rows"]:
        name = "full T (never)" if r["policy"] == "never" else r["policy"]
        share = " ".join(f"{s:<6.1f}" for s in r["steps_share"])
        lines.append(
            f"{name:<18} {r['accuracy']:7.2f} {r['accuracy_drop']:6.2f} {r['mean_steps']:6.3f} "
            f"{r['steps_saved']:5.1f}% {r['ac']:10.0f} {r['mac']:10.0f} {r['energy_uj']:7.3f} "
            f"{r['energy_saved']:5.1f}%  {share}"
        )
    chosen = report.get("chosen")
    if chosen:
        c, t, m = chosen["calibration"], chosen["test"], chosen["test_measured"]
        lines.append(
            f"chosen for an accuracy drop <= {chosen['target_drop_points']} points on "
            f"{c['samples']} training images (full T {chosen['calibration_full_accuracy']:.2f}%, "
            f"{c['policy']} {c['accuracy']:.2f}%): {c['policy']}"
        )
        lines.append(
            f"  on the test set: {m['accuracy']:.2f}% (drop {t['accuracy_drop']:.2f} points), "
            f"{m['mean_steps']:.3f} of {T} timesteps ({t['steps_saved']:.1f}% saved), "
            f"{t['energy_uj']:.3f} uJ/img ({t['energy_saved']:.1f}% saved)"
        )
        if "policy_file" in report:
            lines.append(f"  saved to {report['policy_file']}")
    return "\n".join(lines)


def plot_anytime(report: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """PNG: accuracy vs mean timesteps and vs energy per image, full T marked."""
    from ..analysis.plots import pyplot

    plt = pyplot()
    rows = report["rows"]
    sweep_rows, full = rows[1:], rows[0]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, key, label in (
        (axes[0], "mean_steps", "mean timesteps used"),
        (axes[1], "energy_uj", "energy per image (uJ, 45 nm)"),
    ):
        ax.plot([r[key] for r in sweep_rows], [r["accuracy"] for r in sweep_rows], "o-",
                label=f"anytime, {report['kind']}")  # fmt: skip
        ax.plot(
            [full[key]],
            [full["accuracy"]],
            "s",
            color="black",
            label=f"full T={report['timesteps']}",
        )
        for r in sweep_rows:
            ax.annotate(r["policy"].split(":")[-1], (r[key], r["accuracy"]), fontsize=7,
                        textcoords="offset points", xytext=(3, -8))  # fmt: skip
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    chosen = report.get("chosen")
    if chosen:
        t = chosen["test"]
        for ax, key in ((axes[0], "mean_steps"), (axes[1], "energy_uj")):
            ax.plot([t[key]], [t["accuracy"]], "*", markersize=14, color="tab:red",
                    label="chosen")  # fmt: skip
            ax.legend(loc="lower right")
    fig.suptitle(f"{report['model']} on {report['dataset']}: anytime inference")
    from ..core.fileio import atomic_write

    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)
