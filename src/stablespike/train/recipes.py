"""Named training recipes (``--recipe NAME``): the original papers' hyperparameters in one flag.

A recipe is a set of option values applied on top of the defaults; a config file and flags still
override it (defaults < recipe < ``--config FILE`` < flags), and ``config.yaml`` records the
recipe's name together with every resolved value.

Sources (the authors' configs and training scripts):

* ``spikformer-cifar10`` / ``-cifar100``: ZK-Zhou/spikformer ``cifar10/cifar10.yml``
  (300 epochs, batch 128, AdamW lr 5e-4 -> 1e-5 cosine, weight decay 0.06, 20 warm-up epochs,
  mixup 0.5 (cutmix off, switch 0.5), random erasing 0.25, label smoothing 0.1,
  RandAugment ``rand-m9-n1-mstd0.4-inc1``);
* ``qkformer-cifar10`` / ``-cifar100``: zhouchenlin2096/QKFormer ``cifar10/cifar10.yml``
  (400 epochs, batch 64, AdamW lr 1e-3 -> 1e-5, weight decay 0.06, 20 warm-up epochs, the same
  augmentations as Spikformer);
* ``spikingresformer-cifar10`` / ``-cifar100``: xyshi2000/SpikingResformer
  ``configs/direct_training/cifar10.yaml`` and ``main.py`` (600 epochs, batch 128, AdamW lr 5e-4
  -> 1e-5 cosine with 3 warm-up epochs, weight decay 0.01, mixup 0.5 (cutmix off), label
  smoothing 0.1, RandAugment ``rand-m7-n1-mstd0.5-inc1``, no random erasing).

Stochastic depth stays 0: the originals pass a drop-path rate to their builders but their blocks
never apply it. Not reproduced: timm's cool-down epochs and mixup switch-off epoch, AMP (use
``--amp``), and timm's warm-up from ``warmup_lr`` (ours warms up linearly from 0). RandAugment
needs torchvision (``--randaugment ''`` turns it off).

Example:
    >>> recipe_values("qkformer-cifar10")["model"]
    'qkformer-hst-4-384'
    >>> sorted(RECIPES)[:2]
    ['qkformer-cifar10', 'qkformer-cifar100']
"""

from __future__ import annotations

from typing import Any

from ..core.registry import Registry

__all__ = ["RECIPES", "recipe_values"]

_TIMM_CIFAR_AUG: dict[str, Any] = dict(
    mixup=0.5,
    cutmix=0.0,
    mix_prob=1.0,
    mix_switch_prob=0.5,
    random_erasing=0.25,
    label_smoothing=0.1,
    randaugment="rand-m9-n1-mstd0.4-inc1",
)
_ADAMW: dict[str, Any] = dict(optimizer="adamw", schedule="cosine", decay_scope="all")


def _cifar(dataset: str, base: dict[str, Any]) -> dict[str, Any]:
    return {"dataset": dataset, "timesteps": 4, "drop_path": 0.0, **_ADAMW, **base}


_SPIKFORMER = dict(
    model="spikformer-4-384",
    epochs=300,
    batch_size=128,
    lr=5e-4,
    min_lr=1e-5,
    weight_decay=0.06,
    warmup_epochs=20.0,
    **_TIMM_CIFAR_AUG,
)
_QKFORMER = dict(
    model="qkformer-hst-4-384",
    epochs=400,
    batch_size=64,
    lr=1e-3,
    min_lr=1e-5,
    weight_decay=0.06,
    warmup_epochs=20.0,
    **_TIMM_CIFAR_AUG,
)
_SPIKINGRESFORMER = dict(
    model="spikingresformer-cifar",
    epochs=600,
    batch_size=128,
    lr=5e-4,
    min_lr=1e-5,
    weight_decay=0.01,
    warmup_epochs=3.0,
    mixup=0.5,
    cutmix=0.0,
    mix_prob=1.0,
    mix_switch_prob=0.5,
    random_erasing=0.0,
    label_smoothing=0.1,
    randaugment="rand-m7-n1-mstd0.5-inc1",
)

RECIPES: dict[str, dict[str, Any]] = {
    f"{family}-{dataset}": _cifar(dataset, base)
    for family, base in (
        ("spikformer", _SPIKFORMER),
        ("qkformer", _QKFORMER),
        ("spikingresformer", _SPIKINGRESFORMER),
    )
    for dataset in ("cifar10", "cifar100")
}
"""Recipe name -> option values (see the module docstring for their sources)."""


_REGISTRY: Registry[dict[str, Any]] = Registry("recipe", separator="-")
for _name, _values in RECIPES.items():
    _REGISTRY.add(_name, _values)


def recipe_values(name: str) -> dict[str, Any]:
    """The option values of recipe ``name``; ``ConfigError`` listing the names if unknown."""
    return dict(_REGISTRY.get(name))
