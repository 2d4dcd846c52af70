"""`huia detect train`: fine-tune the bundled COCO CenterNet on a VOC/CSV/COCO data set, on a CPU, in minutes.

Recipe (why it is fast and good on ~100 images):
- start from COCO: the single ``kangaroo`` class is initialised from the COCO channel that already fires most on the
  training boxes (COCO CenterNet sees a kangaroo mostly as a bird, then a dog or a horse), the box head as shipped;
- discriminative fine-tuning: the whole graph trains, the MobileNetV3 backbone at a tenth of the head's learning
  rate (``backbone_lr``), both held near COCO by L2-SP. On five kangaroo splits (not the reported one) this beat
  freezing the backbone up to stride 16 by +0.04 AP (0.589 vs 0.550, single runs), mostly in localisation
  (AP75 0.68 vs 0.58); a share of 0.3 or 0.03 gained half as much. ``train_backbone=False`` keeps the frozen
  recipe (:data:`huia.detect.model.TAPS`): 60 % of the training time;
- box-aware augmentation on the fly (huia.data.augment: flip, zoom, shift, colour, JPEG), drawn
  from (seed, image, epoch) so a run and its resumed continuation see the same pixels;
- no rotation in the augmentation (rotated boxes can only be re-boxed loosely, which teaches loose boxes);
- input 320 (small animals), and a uniform soup of 3 runs that differ only in their augmentation draws
  (:func:`train_soup`): one model's inference cost, ~+0.01 AP over its members;
- losses logged per step like the TF Object Detection API: classification (CenterNet focal loss on the heat map),
  localization (GIoU of the decoded boxes, TTFNet-style over the Gaussian centre region), regularization (L2 of
  the trained weights), total.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from huia.data.provenance import seen_hashes
from huia.detect import dataset as D
from huia.detect.model import (BACKBONE_PREFIX, BASE_MODEL, BOXES, CLS_LOGITS, COCO_ANIMALS, DEFAULT_CHANNEL,
                               DEFAULT_INPUT_SIZE, HEATMAP, INPUT, STRIDE, TAPS, CenterNetDetector, _ancestors,
                               adapt_centernet, load_base_artifacts, split_at_taps)
from huia.errors import HuiaError
from huia.types import Detections

LOC_WEIGHT = 5.0
TAIL_TAP = "tower_0/CenternetHead/Relu_2"  # "tail" mode: cached feature map feeding squeeze-excite + output convs


@dataclass
class TrainConfig:
    data: str
    out: str
    epochs: int = 12
    seed: int = 0
    input_size: int = DEFAULT_INPUT_SIZE
    batch_size: int = 8
    lr: float = 6e-4  # 12 epochs at 6e-4 = 20 epochs at 3e-4 on held-out AP, in 60 % of the time
    weight_decay: float = 10.0  # L2-SP strength: on 108 images, staying near COCO generalises best
    train_fraction: float = 0.8
    train_backbone: bool = True
    backbone_lr: float = 0.1  # with train_backbone: the MobileNetV3's learning rate as a share of ``lr``
    score_threshold: float = 0.3
    mode: str = "head"  # "head": train on images augmented every step; "tail": cached features, output convs only
    views: int = 4  # "tail" mode: augmented views per image (view 0 = the image itself), cycled over epochs
    augment: str = "default"  # "strong": wider zoom/shift/colour ranges (AP 0.580 vs 0.589 on kangaroo splits 1-5)
    wise: float = 1.0  # ship start + wise * (trained - start) (WiSE-FT weight interpolation toward COCO; 1: off)
    ema: float = 0.0  # decay of an exponential moving average of the trained weights (0: off); the EMA is shipped
    val_fraction: float = 0.0  # >0: carve a validation split from the training part and report metrics on IT
    # (metrics.json then says "evaluated_on": "validation"; the held-out split stays what `detect eval` scores)
    members: int = 3  # a uniform model soup of this many runs (see train_soup); 1: a single run
    member: int = 0  # which soup member this run is (its augmentation and batch-order draws; the split stays)
    max_images: int | None = None  # use only the first N training images (tests, smoke runs)
    steps_per_epoch: int | None = None  # cap (tests)
    task: str = "detect"
    base_model: str = BASE_MODEL  # the bundled detector fine-tuned (recorded; the only one so far)
    class_names: list[str] = field(default_factory=list)

    def __post_init__(self):
        """Every setting checked before anything is loaded or written: one line naming the option."""
        checks = [
            (self.epochs >= 1, "--epochs must be at least 1", self.epochs),
            (self.batch_size >= 1, "--batch-size must be at least 1", self.batch_size),
            (math.isfinite(self.lr) and self.lr > 0, "--lr must be a positive number", self.lr),
            (0.0 < self.train_fraction <= 1.0, "--train-fraction must be in (0, 1] (1: train on every image and "
                                               "evaluate on other data)", self.train_fraction),
            (self.input_size % 32 == 0 and 64 <= self.input_size <= 1024,
             "--input-size must be a multiple of 32 between 64 and 1024", self.input_size),
            (0.0 < self.backbone_lr <= 1.0, "--backbone-lr (the backbone's share of the learning rate) must be in "
                                            "(0, 1]", self.backbone_lr),
            (0.0 <= self.ema < 1.0, "--ema (a decay) must be in [0, 1); 0 is off", self.ema),
            (0.0 <= self.wise <= 1.0, "--wise must be in [0, 1] (0: the COCO start, 1: the fine-tuned weights)",
             self.wise),
            (0.0 <= self.val_fraction < 1.0, "--val-fraction must be in [0, 1)", self.val_fraction),
            (1 <= self.members <= 16, "--members must be between 1 and 16", self.members),
            (self.views >= 1, "--views must be at least 1", self.views),
            (self.weight_decay >= 0, "weight decay must be >= 0", self.weight_decay),
            # recorded in config.json (and checked on resume) as what the run started from; one base for now
            (self.base_model == BASE_MODEL, f"base_model: huia fine-tunes the bundled {BASE_MODEL!r} only",
             self.base_model),
        ]
        for ok, message, value in checks:
            if not ok:
                raise HuiaError(f"{message}, got {value}")

    def resume_keys(self) -> list[str]:
        return ["data", "epochs", "seed", "input_size", "batch_size", "lr", "weight_decay", "train_fraction",
                "train_backbone", "backbone_lr", "max_images", "steps_per_epoch", "base_model", "mode", "views", "ema",
                "val_fraction", "augment", "wise", "members", "member"]

    @property
    def draw_seed(self) -> int:
        """Seed of the augmentation and batch-order draws: the run's seed for member 0 (so a one-member run is the
        plain run), another stream for each further soup member. The split always follows ``seed``."""
        return self.seed if self.member == 0 else self.seed + 1000 * self.member


# --- losses ----------------------------------------------------------------------------------------------------------


def focal_loss(logits: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss (alpha 2, beta 4), normalised by the number of box centres."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1).float()
    npos = pos.sum().clamp(min=1.0)
    pos_l = pos * (1 - p) ** 2 * torch.log(p)
    neg_l = (1 - pos) * (1 - heat) ** 4 * p ** 2 * torch.log(1 - p)
    return -(pos_l + neg_l).sum() / npos


def giou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    ix1, iy1 = torch.max(pred[:, 0], target[:, 0]), torch.max(pred[:, 1], target[:, 1])
    ix2, iy2 = torch.min(pred[:, 2], target[:, 2]), torch.min(pred[:, 3], target[:, 3])
    inter = (ix2 - ix1).clamp(min=0) * (iy2 - iy1).clamp(min=0)
    ap = (pred[:, 2] - pred[:, 0]).clamp(min=0) * (pred[:, 3] - pred[:, 1]).clamp(min=0)
    at = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    union = (ap + at - inter).clamp(min=1e-6)
    ex1, ey1 = torch.min(pred[:, 0], target[:, 0]), torch.min(pred[:, 1], target[:, 1])
    ex2, ey2 = torch.max(pred[:, 2], target[:, 2]), torch.max(pred[:, 3], target[:, 3])
    enclose = ((ex2 - ex1) * (ey2 - ey1)).clamp(min=1e-6)
    return 1 - inter / union + (enclose - union) / enclose


def box_loss(ltrb: torch.Tensor, tbox: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted GIoU between boxes decoded at every regression cell and their targets (all in input pixels)."""
    mask = weight > 0
    if not bool(mask.any()):
        return ltrb.sum() * 0.0
    b, g = ltrb.shape[0], ltrb.shape[1]
    ys, xs = torch.meshgrid(torch.arange(g, dtype=torch.float32), torch.arange(g, dtype=torch.float32),
                            indexing="ij")
    locx = (xs * STRIDE).expand(b, g, g)[mask]
    locy = (ys * STRIDE).expand(b, g, g)[mask]
    d = ltrb[mask]
    pred = torch.stack([locx - d[:, 0], locy - d[:, 1], locx + d[:, 2], locy + d[:, 3]], 1)
    w = weight[mask]
    return (giou_loss(pred, tbox[mask]) * w).sum() / w.sum().clamp(min=1e-6)


def l2_regularization(params: list[torch.Tensor], start: list[torch.Tensor], weight_decay: float) -> torch.Tensor:
    """L2-SP: squared distance of the trained weights from their COCO starting point (plain L2 towards zero would
    pull a pretrained detector away from what it knows)."""
    return weight_decay * 0.5 * sum(((p - p0) ** 2).sum() for p, p0 in zip(params, start))


# --- training ------------------------------------------------------------------------------------------------------


def pick_class_channels(base, images: list[np.ndarray], boxes: list[Detections], num_classes: int,
                        input_size: int) -> list[int]:
    """For each class, the COCO channel with the highest mean heat at that class's box centres over every training
    image. Falls back to the best COCO animal when a class has no box.

    Every image, not a prefix: on kangaroo, COCO's bird and dog channels are within 0.01 of each other, so the first
    24 images picked dog on one split and bird on the five others. Over all images it is bird on all six; bird vs
    dog measured 0.583 vs 0.576 AP over 10 paired runs (splits 1-5; noise ~0.01), so the point is a choice that does
    not depend on file order, not a gain. One image at a time: the heat maps are small, the inputs are not."""
    from huia.tfjs.graph import load_graph_model

    coco = load_graph_model(adapt_centernet(base, input_size=input_size, class_channels=list(range(80))))
    sums = np.zeros((num_classes, 80))
    counts = np.zeros(num_classes)
    for img, b in zip(images, boxes):
        x, bs = D.resize_batch([img], [b], input_size)
        heat = coco({INPUT: x}, outputs=[HEATMAP])[HEATMAP][0]
        t = D.make_targets(bs[0], num_classes, input_size)
        for c in range(num_classes):
            m = t.heat[:, :, c] == 1
            if m.any():
                sums[c] += heat[m].sum(0)
                counts[c] += m.sum()
    animals = list(COCO_ANIMALS)
    chans = []
    for c in range(num_classes):
        if counts[c]:
            chans.append(int(np.argmax(sums[c] / counts[c])))
        else:
            chans.append(animals[int(np.argmax(sums.sum(0)[animals]))] if sums.any() else DEFAULT_CHANNEL)
    return chans


def _lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def param_groups(model: CenterNetDetector, params: list[torch.Tensor], cfg: TrainConfig) -> list[dict]:
    """Adam groups: the head at ``lr``; with ``train_backbone`` the whole MobileNetV3 at ``backbone_lr x lr``
    (discriminative fine-tuning: the COCO features need nudging, not relearning from 108 images). The per-step
    schedule multiplies each group's ``scale``."""
    if not cfg.train_backbone:
        return [{"params": params, "scale": 1.0}]
    names = {id(p): n for n, p in model.named_weights()}
    backbone = [p for p in params if names.get(id(p), "").startswith(BACKBONE_PREFIX)]
    head = [p for p in params if not names.get(id(p), "").startswith(BACKBONE_PREFIX)]
    groups = [{"params": head, "scale": 1.0}]
    if backbone:  # (tail mode trains output convs only: no backbone group)
        groups.append({"params": backbone, "scale": cfg.backbone_lr})
    return groups


def run_split(cfg: TrainConfig, classes: list[str] | None):
    """(train samples, validation samples, held-out samples, class names) of a run: the deterministic held-out split
    of ``cfg.seed`` (empty with ``train_fraction`` 1), and with ``val_fraction`` a validation part carved from the
    training part (choices such as recipes and defaults are made on that, never on the held-out split, which stays
    the run's test split whatever ``val_fraction`` is)."""
    train_s, test_s, names = D.load_split(cfg.data, seed=cfg.seed, train=cfg.train_fraction, classes=classes)
    val_s: list = []
    if cfg.val_fraction:
        from huia.data import split_samples

        if len(train_s) < 2:
            raise HuiaError(f"--val-fraction needs at least 2 training images, got {len(train_s)}", cfg.data)
        train_s, val_s = split_samples(train_s, train=1.0 - cfg.val_fraction, seed=cfg.seed + 1)
    return train_s, val_s, test_s, names


def train(cfg: TrainConfig, *, log_every: int = 1, quiet: bool = False, stop_after_epochs: int | None = None,
          class_channels: list[int] | None = None) -> dict | None:
    """Train (or resume) a run; returns the held-out metrics. See the module docstring.
    ``stop_after_epochs``: return None after that many epochs of this call, as if interrupted (tests resume).
    ``class_channels``: the COCO channels to start from, already picked on these training images (soup members
    after the first), instead of picking them again."""
    from huia.data.split import sample_key
    from huia.train.common import RunDir, progress, seed_everything

    if cfg.members > 1:
        return train_soup(cfg, log_every=log_every, quiet=quiet, stop_after_epochs=stop_after_epochs)
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    run = RunDir(cfg.out)
    seed_everything(cfg.draw_seed)
    train_s, val_s, test_s, names = run_split(cfg, cfg.class_names or None)
    if cfg.max_images:
        train_s = train_s[:cfg.max_images]
    cfg.class_names = names
    config = asdict(cfg)
    config["data"] = str(Path(cfg.data).resolve())
    resuming = run.has_checkpoint()
    if resuming:
        run.check_config(config, cfg.resume_keys())
    elif run.config_path.is_file() and run.log_path.is_file():
        raise HuiaError("run folder already holds a run without a checkpoint; choose a new --out", run.path)
    images = D.load_images(train_s)
    boxes = [D.remap_classes(s.boxes, names) for s in train_s]

    base = load_base_artifacts()
    if resuming:
        chans = run.load_config().get("class_channels") or [DEFAULT_CHANNEL] * len(names)
    else:
        chans = class_channels or pick_class_channels(base, images, boxes, len(names), cfg.input_size)
    config["class_channels"] = chans
    config["train_images"] = [sample_key(s) for s in train_s]
    config["val_images"] = [sample_key(s) for s in val_s]
    config["test_images"] = [sample_key(s) for s in test_s]
    # content fingerprints of every file the run saw (its own and, for augmented copies, its original's):
    # `huia detect eval --data OTHER` leaves out those images and their copies, whatever their names
    config["train_seen_sha1"] = sorted(seen_hashes(train_s, train_s + val_s + test_s))
    run.save_config(config)

    if cfg.mode not in ("head", "tail"):
        raise HuiaError(f"unknown training mode {cfg.mode!r} (head or tail)")
    model = CenterNetDetector(adapt_centernet(base, input_size=cfg.input_size, class_channels=chans), names,
                              cfg.input_size, train_backbone=cfg.train_backbone)
    augmenter = D.train_augmenter(cfg.input_size, cfg.augment)
    if cfg.mode == "tail":
        net = TailTrainer(model, images, boxes, [sample_key(s) for s in train_s], augmenter, cfg)
    else:
        if not cfg.train_backbone:
            # freeze everything the stride-16 taps depend on (not only the MobileNet prefix)
            nodes = {nd["name"]: nd for nd in model.graph.artifacts.model_topology["node"]}
            frozen = _ancestors(nodes, TAPS)
            for name, p in model.named_weights():
                p.requires_grad_(name not in frozen)
        net = HeadTrainer(model, images, boxes, [sample_key(s) for s in train_s], augmenter, cfg)
    params = net.parameters()
    start = [p.detach().clone() for p in params]
    opt = torch.optim.Adam(param_groups(model, params, cfg), lr=cfg.lr)

    n = len(train_s)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    if cfg.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.steps_per_epoch)
    total = steps_per_epoch * cfg.epochs
    start_epoch, step = 0, 0
    ema = [p.detach().clone() for p in params] if cfg.ema else None
    if resuming:
        ck = run.load_checkpoint(net.module, opt)  # (the L2-SP anchor stays the COCO start)
        start_epoch, step = int(ck["epoch"]) + 1, int(ck["step"])
        if not quiet:
            print(f"resuming {run.path} after epoch {start_epoch} of {cfg.epochs}", flush=True)
        if ema is not None:
            for e, v in zip(ema, ck["extra"]["ema"]):
                e.copy_(v)
    t_start = time.time()
    prior = float(run.load_config().get("_elapsed", 0.0)) if resuming else 0.0
    bar = progress(total=total, desc="detect train", initial=step, disable=True if quiet else None)
    model.train()
    for epoch in range(start_epoch, cfg.epochs):
        order = np.random.default_rng([cfg.draw_seed, epoch, 7]).permutation(n)
        for bi in range(steps_per_epoch):
            idx = order[bi * cfg.batch_size:(bi + 1) * cfg.batch_size]
            x, bxs = net.batch(idx, epoch)
            tg = [D.make_targets(b, len(names), cfg.input_size) for b in bxs]
            heat = torch.from_numpy(np.stack([t.heat for t in tg]))
            tbox = torch.from_numpy(np.stack([t.boxes for t in tg]))
            wgt = torch.from_numpy(np.stack([t.weight for t in tg]))
            lr = _lr_at(step, total, cfg.lr, warmup=min(20, max(2, total // 5)))
            for g in opt.param_groups:
                g["lr"] = lr * g["scale"]
            logits, ltrb = net.forward(x)
            l_cls = focal_loss(logits, heat)
            l_loc = LOC_WEIGHT * box_loss(ltrb, tbox, wgt)
            l_reg = l2_regularization(params, start, cfg.weight_decay)
            loss = l_cls + l_loc + l_reg
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            opt.step()
            step += 1
            if ema is not None:
                with torch.no_grad():
                    for e, p in zip(ema, params):
                        e.lerp_(p.detach(), 1.0 - cfg.ema)
            row = {"step": step, "epoch": epoch, "lr": lr, "classification_loss": l_cls.item(),
                   "localization_loss": l_loc.item(), "regularization_loss": l_reg.item(),
                   "total_loss": loss.item()}
            if step % log_every == 0 or step == total:
                run.log(row)
            bar.update(1)
            bar.set_postfix(loss=f"{row['total_loss']:.3f}", cls=f"{row['classification_loss']:.3f}",
                            loc=f"{row['localization_loss']:.3f}")
        c = run.load_config()
        c["_elapsed"] = prior + time.time() - t_start
        run.save_config(c)
        run.save_checkpoint(net.module, opt, epoch=epoch, step=step,
                            extra={"ema": [e.clone() for e in ema]} if ema is not None else None)
        if stop_after_epochs is not None and epoch + 1 - start_epoch >= stop_after_epochs and epoch + 1 < cfg.epochs:
            bar.close()
            return None
    bar.close()
    if ema is not None:
        with torch.no_grad():
            for e, p in zip(ema, params):
                p.copy_(e)
    if cfg.wise != 1.0:
        with torch.no_grad():
            for p, p0 in zip(params, start):
                p.copy_(p0 + cfg.wise * (p - p0))
    net.write_back()
    elapsed = float(run.load_config().get("_elapsed", time.time() - t_start))
    return finish(run, model, val_s if cfg.val_fraction else test_s, names, cfg, train_seconds=elapsed)


class HeadTrainer:
    """Images augmented on the fly each step, forward/backward through the graph from the input (frozen backbone
    parameters simply do not require grad)."""

    def __init__(self, model, images, boxes, keys, augmenter, cfg):
        self.model, self.images, self.boxes, self.keys, self.aug, self.cfg = model, images, boxes, keys, augmenter, cfg
        self.module = model

    def parameters(self):
        return self.model.trainable_parameters()

    def batch(self, idx, epoch):
        from huia.data.augment import sample_rng

        rngs = [sample_rng(self.cfg.draw_seed, self.keys[i], epoch) for i in idx]
        x, bxs = D.augment_batch([self.images[i] for i in idx], [self.boxes[i] for i in idx], self.aug, rngs)
        return torch.from_numpy(x), bxs

    def forward(self, x):
        return self.model(x)

    def write_back(self):
        pass


class TailTrainer(HeadTrainer):
    """Cheapest mode: the graph up to the head's last feature map (stride 4, 128 channels) runs once per
    (image, view) and is cached in float16; only the squeeze-excite and the two output convolutions train.
    Epoch ``e`` uses view ``e % views`` (view 0 = the plain image, others = seeded augmentations)."""

    def __init__(self, model, images, boxes, keys, augmenter, cfg):
        from huia.tfjs.graph import load_graph_model

        super().__init__(model, images, boxes, keys, augmenter, cfg)
        self.tail = load_graph_model(split_at_taps(model.graph.artifacts, taps=(TAIL_TAP,)), trainable=True)
        # start from the model's current values (the adapted class head)
        own = dict(model.named_weights())
        with torch.no_grad():
            for name, param in self.tail.weight_params.items():
                param.copy_(own[name])
        self.module = self.tail
        self.cache: dict = {}

    def parameters(self):
        return list(self.tail.weights.values())

    def batch(self, idx, epoch):
        from huia.data.augment import sample_rng

        view = epoch % max(1, self.cfg.views)
        feats, bxs = [], []
        for i in idx:
            if (view, i) not in self.cache:
                if view == 0:
                    x, b = D.resize_batch([self.images[i]], [self.boxes[i]], self.cfg.input_size)
                else:
                    x, b = D.augment_batch([self.images[i]], [self.boxes[i]], self.aug,
                                           [sample_rng(self.cfg.draw_seed, self.keys[i], 10_000 + view)])
                f = self.model.graph({INPUT: x}, outputs=[TAIL_TAP])[TAIL_TAP]
                self.cache[(view, i)] = (torch.from_numpy(np.ascontiguousarray(f[0])).half(), b[0])
            f, b = self.cache[(view, i)]
            feats.append(f)
            bxs.append(b)
        return torch.stack(feats).float(), bxs

    def forward(self, x):
        out = self.tail({TAIL_TAP: x}, outputs=[CLS_LOGITS, BOXES])
        return out[CLS_LOGITS], out[BOXES]

    def write_back(self):
        own = dict(self.model.named_weights())
        with torch.no_grad():
            for name, param in self.tail.weight_params.items():
                own[name].copy_(param)


def train_soup(cfg: TrainConfig, *, log_every: int = 1, quiet: bool = False, stop_after_epochs: int | None = None
               ) -> dict | None:
    """A uniform model soup (Wortsman et al. 2022, "Model soups"): ``cfg.members`` runs fine-tuned from the same
    COCO start on the same split, each with its own augmentation and batch-order draws, and the shipped model is the
    plain average of their weights. Runs that start from one pretrained point and stay near it (L2-SP here) sit in
    one basin, so their average is a better model than each of them at the cost of one: on kangaroo it beat the mean
    member by ~0.01 AP on each of the 3 splits measured (seeds 1-3, not the reported split). Members live in
    ``RUN/members/K`` and are ordinary runs: each resumes on its own, and finished ones are not trained again."""
    import dataclasses

    from huia.tfjs.artifacts import load_artifacts
    from huia.train.common import RunDir

    run = RunDir(cfg.out)
    config = asdict(cfg)
    config["data"] = str(Path(cfg.data).resolve())
    if run.config_path.is_file():
        run.check_config(config, cfg.resume_keys())
    run.save_config(config)
    member_metrics = []
    for k in range(cfg.members):
        mcfg = dataclasses.replace(cfg, out=str(run.path / "members" / str(k)), members=1, member=k,
                                   class_names=list(cfg.class_names))
        done = Path(mcfg.out) / RunDir.METRICS
        if done.is_file() and (Path(mcfg.out) / "model" / "model.json").is_file():
            member_metrics.append(json.loads(done.read_text()))
            continue
        if not quiet:
            print(f"soup member {k + 1}/{cfg.members}", flush=True)
        # same split, so the same COCO channel pick: member 0 makes it, the others reuse it
        chans = RunDir(run.path / "members" / "0", create=False).load_config().get("class_channels") if k else None
        m = train(mcfg, log_every=log_every, quiet=quiet, stop_after_epochs=stop_after_epochs, class_channels=chans)
        if m is None:
            return None
        member_metrics.append(m)
    arts = [load_artifacts(run.path / "members" / str(k) / "model") for k in range(cfg.members)]
    first = arts[0]
    weights = {}
    for name, v in first.weights.items():
        vals = [a.weights[name] for a in arts]
        if v.dtype.kind == "f":
            weights[name] = np.mean(np.stack(vals), axis=0).astype(v.dtype)
        else:
            if any(not np.array_equal(v, o) for o in vals[1:]):
                raise HuiaError(f"soup members disagree on the graph constant {name!r}", run.path)
            weights[name] = v
    mcfg0 = RunDir(run.path / "members" / "0", create=False).load_config()
    names = list(mcfg0["class_names"])
    _, val_s, test_s, _ = run_split(cfg, names)
    config.update(class_names=names, class_channels=mcfg0.get("class_channels"),
                  train_images=mcfg0.get("train_images"), val_images=mcfg0.get("val_images") or [],
                  test_images=mcfg0.get("test_images"), train_seen_sha1=mcfg0.get("train_seen_sha1"))
    run.save_config(config)
    model = CenterNetDetector(dataclasses.replace(first, weights=weights), names, cfg.input_size)
    seconds = sum(float(m.get("train_seconds", 0.0)) for m in member_metrics)
    return finish(run, model, val_s if cfg.val_fraction else test_s, names, cfg, train_seconds=seconds,
                  logs=[RunDir(run.path / "members" / str(k), create=False).read_log() for k in range(cfg.members)],
                  extra={"members": [{k: m[k] for k in ("ap", "ap50", "ap75", "ar100")} for m in member_metrics]})


def finish(run, model: CenterNetDetector, test_s, names, cfg: TrainConfig, *, train_seconds: float,
           logs: list[list[dict]] | None = None, extra: dict | None = None) -> dict:
    """Save the TF.js model, evaluate on ``test_s`` (the held-out split, or the validation images with
    ``cfg.val_fraction``; none with ``train_fraction`` 1), write metrics.json (plus ``extra``) and the plots.

    metrics.json says which: ``evaluated_on`` is "held-out", "validation" or "none", with ``test_images`` /
    ``val_images`` the number of images; ``at_threshold`` holds TP/FP/FN, precision and recall at the model's score
    threshold; ``held_out_loss`` (``val_loss`` with ``cfg.val_fraction``, so a validation figure is never read as a
    held-out one) the four training losses on those images (no augmentation)."""
    from huia.detect.predict import Detector, evaluate_samples

    model.eval()
    meta = model_metadata(names, cfg.input_size, cfg.score_threshold)
    from huia.tfjs.artifacts import save_artifacts
    save_artifacts(model.to_artifacts(meta), run.path / "model", quantize="float32")
    from huia.eval.coco import HEADLINE_KEYS, bootstrap_intervals, operating_curve, per_class_metrics, threshold_counts

    import resource

    where = "validation" if cfg.val_fraction else ("held-out" if test_s else "none")
    metrics: dict = {"evaluated_on": where}
    res = None
    if test_s:
        det = Detector.from_dir(run.path / "model")
        res = evaluate_samples(det, test_s)
        metrics.update({k: res[k] for k in HEADLINE_KEYS})
        metrics["ci"] = bootstrap_intervals(res)  # which images were held out moves these figures: say by how much
        if len(names) > 1:
            metrics["per_class"] = per_class_metrics(res)
        metrics["at_threshold"] = threshold_counts(res["_gts"], res["_dets"], cfg.score_threshold,
                                                   class_names=names)
        metrics["operating_curve"] = operating_curve(res["_gts"], res["_dets"])  # [threshold, TP, FP, FN] at IoU .5
        metrics[loss_key(where)] = held_out_loss(model, test_s, names, cfg.input_size, logs or [run.read_log()])
    metrics.update({"train_seconds": round(train_seconds, 1), "epochs": cfg.epochs,
                    "input_size": cfg.input_size, "cpu_seconds": round(time.process_time(), 1),
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
                    **(extra or {})})
    metrics["val_images" if cfg.val_fraction else "test_images"] = len(test_s)
    run.save_metrics(metrics, merge=False)
    write_plots(run, res, logs, operating=metrics.get("at_threshold"),
                title="validation precision-recall" if cfg.val_fraction else "held-out precision-recall")
    return metrics


def loss_key(evaluated_on: str) -> str:
    """metrics.json's key for the losses on the evaluated images: ``val_loss`` on validation images (--val-fraction),
    ``held_out_loss`` on the held-out split."""
    return "val_loss" if evaluated_on == "validation" else "held_out_loss"


def held_out_loss(model: CenterNetDetector, samples, names: list[str], input_size: int,
                  logs: list[list[dict]]) -> dict:
    """The four losses of the training log on ``samples`` (plain resize, no augmentation), so over-fitting shows as
    a held-out loss above the last training losses (the TF Object Detection API's evaluation loss).
    Classification and localization are measured on the images; regularization (L2-SP distance from the COCO
    start) depends on the weights only, so it is the last training step's (the mean over soup members)."""
    import warnings

    images = D.load_images(samples)
    boxes = [D.remap_classes(s.boxes, names) for s in samples]
    logits, ltrbs, heats, tboxes, wgts = [], [], [], [], []
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(0, len(images), 8):
            x, bxs = D.resize_batch(images[i:i + 8], boxes[i:i + 8], input_size)
            lg, lt = model(torch.from_numpy(x))
            logits.append(lg)
            ltrbs.append(lt)
            tg = [D.make_targets(b, len(names), input_size) for b in bxs]
            heats += [t.heat for t in tg]
            tboxes += [t.boxes for t in tg]
            wgts += [t.weight for t in tg]
        l_cls = float(focal_loss(torch.cat(logits), torch.from_numpy(np.stack(heats))))
        l_loc = float(LOC_WEIGHT * box_loss(torch.cat(ltrbs), torch.from_numpy(np.stack(tboxes)),
                                            torch.from_numpy(np.stack(wgts))))
    last = [rows[-1] for rows in logs if rows]
    l_reg = float(np.mean([r["regularization_loss"] for r in last])) if last else 0.0
    out = {"classification_loss": l_cls, "localization_loss": l_loc, "regularization_loss": l_reg,
           "total_loss": l_cls + l_loc + l_reg}
    if last:  # the training losses they compare with: the last step's (mean over soup members)
        out["last_training_step"] = {k: float(np.mean([r[k] for r in last])) for k in out}
    return {k: (round(v, 6) if isinstance(v, float) else {kk: round(vv, 6) for kk, vv in v.items()})
            for k, v in out.items()}


def model_metadata(names: list[str], input_size: int, score_threshold: float) -> dict:
    """userDefinedMetadata of a huia detector: all the browser needs to turn outputs into boxes
    (web/js/detector.js reads the "huia" part; "task"/"labels" at the top are for model listings)."""
    return {"task": "detect", "labels": list(names),
            "huia": {"task": "detect", "architecture": "centernet-mobilenetv3", "labels": list(names),
                     "input_size": [input_size, input_size], "input_name": INPUT,
                     "normalization": {"range": [0, 255], "channels": "RGB", "resize": "stretch-bilinear",
                                       "half_pixel_centers": True,  # tf.image.resizeBilinear(x, [n, n], false, true)
                                       "rounded": False},
                     "score_threshold": score_threshold,
                     "postprocessing": {"output": "tower_0/detections",
                                        "row": ["xmin", "ymin", "xmax", "ymax", "score", "class"],
                                        "coordinates": "input pixels; scale x by width/input, y by height/input",
                                        "peaks": "3x3 max-pool, top 100", "nms": "none (CenterNet peaks)"}}}


def write_plots(run, res: dict | None, logs: list[list[dict]] | None = None, *, operating: dict | None = None,
                title: str = "held-out precision-recall") -> None:
    """Loss curves (one set per soup member when ``logs`` has several) and the held-out precision-recall curve
    (IoU .5 and .75) as PNG, with the model's operating point (``operating``: a threshold_counts dict) marked on
    each curve: the precision and recall the Detector page gives at its score threshold. No ``res``: no curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    logs = [rows for rows in (logs if logs is not None else [run.read_log()]) if rows]
    if logs:
        fig, ax = plt.subplots(figsize=(7, 4))
        for m, rows in enumerate(logs):
            steps = [r["step"] for r in rows]
            for c, k in enumerate(("classification_loss", "localization_loss", "regularization_loss", "total_loss")):
                label = k.replace("_", " ") if m == 0 else None
                ax.plot(steps, [r[k] for r in rows], color=f"C{c}", alpha=1.0 if len(logs) == 1 else 0.6,
                        label=label)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend()
        ax.set_title("training losses")
        fig.tight_layout()
        fig.savefig(run.plot_path("loss.png"), dpi=90)
        plt.close(fig)
    if res is None:
        return
    from huia.eval.plots import mark_operating_point

    prec, rec = res["precision"], res["recall_thresholds"]
    fig, ax = plt.subplots(figsize=(5, 5))
    valid = [k for k in range(prec.shape[2]) if (prec[:, :, k] > -1).any()]  # classes with ground truth
    for t, lab, key in ((0, "IoU 0.50", "iou50"), (5, "IoU 0.75", "iou75")):
        # several classes: the mean curve over classes (its mean is COCO's AP, a mean of per-class APs)
        p = prec[t][:, valid].mean(axis=1) if valid else np.full(prec.shape[1], np.nan)
        if len(valid) > 1:
            lab += f", mean of {len(valid)} classes"
        line, = ax.plot(rec, p, label=f"{lab} (AP {np.nanmean(p) if valid else -1:.3f})")
        if operating and key in operating:
            mark_operating_point(ax, operating[key], operating["score_threshold"], color=line.get_color())
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(run.plot_path("pr_curve.png"), dpi=90)
    plt.close(fig)
