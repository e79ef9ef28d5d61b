"""One training step of a conditional GAN: the networks, their optimisers, the loss and the stabilisers.

A step is the discriminator phase (adversarial loss, AC-GAN's class loss, WGAN-GP's gradient penalty,
R1, consistency), then, on every n_critic-th step, the generator phase (adversarial loss, top-k, mode
seeking) and the update of the generator's weight average (EMA). The state of all of it goes to and from
a checkpoint as tensors plus JSON.

Precision: the networks' forward passes run under autocast in bf16 or fp16, or in fp32; losses and
penalties are fp32 whatever the precision. fp16's narrow range needs loss scaling: each optimiser has a
`torch.amp.GradScaler` (disabled, and changing nothing, under bf16 and fp32) whose scale multiplies the
loss before backward; gradients are unscaled before they are clipped or measured, and a step whose
gradients overflowed is skipped by the scaler (which then halves its scale).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..checkpoint import load_module, load_optimizer, module_tensors, optimizer_tensors
from ..discriminators import build_discriminator
from ..errors import CheckpointError
from ..models import ArchConfig, build_generator
from .augment import augment, parse_policy
from .config import TrainConfig
from .distributed import Distributed
from .losses import consistency_loss, get_loss, gradient_penalty, mode_seeking_loss, r1_penalty
from .precision import AUTOCAST_DTYPES, resolve_precision

INITIAL_LOSS_SCALE = 2.0**16  # fp16: GradScaler's default; it halves on an overflow, doubles after
GROWTH_INTERVAL = 2000  # this many steps without one (GradScaler's default)


def grad_norm(module: torch.nn.Module, clip: float | None) -> torch.Tensor:
    """The L2 norm of all gradients of `module`, measured before clipping (which happens when `clip` is set),
    as a tensor on the gradients' device: reading it waits for the GPU, so only measured steps do."""
    params = [p for p in module.parameters() if p.grad is not None]
    return torch.nn.utils.clip_grad_norm_(params, clip if clip is not None else math.inf)


class DiscriminatorPhase(NamedTuple):
    loss: torch.Tensor  # D's loss with its penalties
    forward_loss: torch.Tensor  # without them: what the forward passes alone give
    norm: float | None  # the gradient norm, on measured steps and when clipping
    skipped: bool  # the fp16 loss scaler skipped the update (known on measured steps)
    real_logits: torch.Tensor
    fake_logits: torch.Tensor


class GANStep:
    """The networks, optimisers, loss and stabilisers of one run, and the step that updates them."""

    def __init__(
        self, config: TrainConfig, arch: ArchConfig, device: torch.device, dist: Distributed | None = None
    ):
        self.config = config
        self.arch = arch
        self.device = device
        self.dist = dist = dist or Distributed()
        self.precision = resolve_precision(config.precision, device)
        torch.manual_seed(config.seed)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        generator = build_generator(arch)
        # Batch norm over the global batch under torchrun: every rank runs the generator's stem on the whole
        # batch, whose noise and labels it knows, so the stem's batch norm computes it without communicating
        # (the stem's gradients, summed over the ranks as all gradients are, are then exact); the later
        # batch norms, which see this rank's images only, all-reduce their statistics.
        self.global_stem = dist.active and config.sync_batch_norm
        if self.global_stem:
            generator = dist.synchronise_batch_norm(generator, keep=generator.stem_norm)
        # torch's overloads of Module.to leave out memory_format, which it takes (its docstring shows it).
        self.generator = generator.to(device, memory_format=self.memory_format)  # type: ignore[call-overload]
        # The exponential moving average of the generator's weights: what samples, evaluation and
        # generator.safetensors use when --ema is on (smoother than the last step's weights).
        self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False) if config.ema else None
        self.discriminator = build_discriminator(arch).to(device, memory_format=self.memory_format)  # type: ignore[call-overload]
        betas = (config.beta1, config.beta2)
        fused = device.type in ("cpu", "cuda")  # Adam's fused kernel: same maths, faster (docs/speed.md)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=betas, fused=fused)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.d_lr, betas=betas, fused=fused)
        # fp16's loss scaling, one scaler per optimiser (their steps overflow independently); under bf16 and
        # fp32 the scalers are disabled: scale() returns the loss itself and step() is the optimiser's step.
        fp16 = self.precision == "fp16"
        self.scaler_d = torch.amp.GradScaler(
            device.type, init_scale=INITIAL_LOSS_SCALE, growth_interval=GROWTH_INTERVAL, enabled=fp16
        )
        self.scaler_g = torch.amp.GradScaler(
            device.type, init_scale=INITIAL_LOSS_SCALE, growth_interval=GROWTH_INTERVAL, enabled=fp16
        )
        self.loss = get_loss(config.loss)
        self.augment_policy = parse_policy(config.augment) if config.augment else ()
        # One random stream for noise, augmentation and penalty mixing: saved in checkpoints for resume.
        self.noise = torch.Generator(device=device).manual_seed(config.seed)
        self.step = 0
        self.top_k_share = 1.0  # of each batch, that G learns from (--top-k; the loop sets it each epoch)

    @property
    def d_lr(self) -> float:
        return self.config.lr if self.config.d_lr is None else self.config.d_lr

    def scale_learning_rates(self, factor: float) -> None:
        """Both networks' learning rates at this share of their own (--lr, --d-lr): the --lr-decay schedule."""
        for optimizer, lr in ((self.opt_g, self.config.lr), (self.opt_d, self.d_lr)):
            for group in optimizer.param_groups:
                group["lr"] = lr * factor

    def autocast(self):
        """Autocast of the forward passes to bf16 or fp16 under that --precision; a no-op context in fp32."""
        dtype = AUTOCAST_DTYPES.get(self.precision)
        return torch.autocast(self.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)

    def judge(self, images: torch.Tensor, labels: torch.Tensor):
        """D's (logits, class logits or None), in fp32 whatever the precision: losses are taken in fp32."""
        with self.autocast():
            logits, classes = self.discriminator(images, labels)
        return logits.float(), classes.float() if classes is not None else None

    def augmented(self, images: torch.Tensor) -> torch.Tensor:
        """Images as D sees them: through DiffAugment when --augment is on."""
        return self.transformed(images, self.augment_policy) if self.augment_policy else images

    def transformed(self, images: torch.Tensor, policy: tuple[str, ...]) -> torch.Tensor:
        """`images` through the transforms of `policy`, drawn from the run's random stream. Each image is
        transformed on its own, by draws made for the global batch: this rank's images take their place in
        it, so they get the draws (and the stream moves as) in one process."""
        return self.dist.shard(augment(self.dist.in_global_batch(images), policy, self.noise))

    def __call__(self, real: torch.Tensor, batch_labels: torch.Tensor, measure: bool) -> dict | None:
        """One discriminator update, then a generator update on every n_critic-th step, on this rank's
        `real` images of the global batch whose labels are `batch_labels` (in one process, the batch and
        its labels). With `measure`, the losses, D's mean outputs and the gradient norms. Under fp16 a value
        lost to a step that the loss scaler skipped (its scaled gradients overflowed) is None: that network's
        gradient norm, and D's loss when only its penalties, taken from the overflowed gradients, are not
        finite."""
        update_g = (self.step + 1) % self.config.n_critic == 0
        labels = self.dist.shard(batch_labels)
        # Drawn for the global batch, so every rank's stream stays where one process's is.
        batch_z = torch.randn(len(batch_labels), self.arch.latent_dim, device=self.device, generator=self.noise)
        z = self.dist.shard(batch_z)
        with torch.set_grad_enabled(update_g), self.autocast():
            fake = self.fakes(batch_z, batch_labels)
        d = self.discriminator_phase(real, fake.detach(), labels, measure)
        g_loss = g_norm = None
        g_skipped = False
        if update_g:
            g_loss, g_norm, g_skipped = self.generator_phase(fake, z, labels, measure)
            if self.ema is not None:
                self.update_ema()
        self.step += 1
        if not measure:
            return None
        means = {
            "d_loss": d.loss,
            "d_real": torch.sigmoid(d.real_logits.detach()).mean(),
            "d_fake": torch.sigmoid(d.fake_logits.detach()).mean(),
            **({"g_loss": g_loss} if g_loss is not None else {}),
            # The same on every rank: the scalers see the same (averaged) gradients.
            **({"d_forward_loss": d.forward_loss} if d.skipped else {}),
        }
        means = self.dist.mean(means)  # of the global batch
        d_loss = means["d_loss"].item()
        # Not divergence: the scaler skipped the step and halved its scale.
        lost = d.skipped and not math.isfinite(d_loss) and math.isfinite(means["d_forward_loss"].item())
        return {
            "d_loss": None if lost else d_loss,
            "g_loss": means["g_loss"].item() if g_loss is not None else None,
            "d_real": means["d_real"].item(),
            "d_fake": means["d_fake"].item(),
            "g_grad_norm": None if g_skipped else g_norm,
            "d_grad_norm": None if d.skipped else d.norm,
        }

    def fakes(self, batch_z: torch.Tensor, batch_labels: torch.Tensor) -> torch.Tensor:
        """The generator's images for this rank's share of a global batch with this noise and these labels."""
        if self.global_stem:
            features = self.dist.shard(self.generator.stem(batch_z, batch_labels))
            return self.generator.grow(features, self.dist.shard(batch_labels))
        return self.generator(self.dist.shard(batch_z), self.dist.shard(batch_labels))

    def discriminator_phase(self, real, fake, labels, measure: bool) -> DiscriminatorPhase:
        config = self.config
        if config.r1:
            real = real.detach().requires_grad_(True)  # R1 differentiates D's output by its input
        real_seen, fake_seen = self.augmented(real), self.augmented(fake)
        real_logits, real_classes = self.judge(real_seen, labels)
        fake_logits, fake_classes = self.judge(fake_seen, labels)
        d_loss = self.loss.d_loss(real_logits, fake_logits)
        if real_classes is not None:  # AC-GAN: D also learns to name the class of real and of fake images
            d_loss = d_loss + F.cross_entropy(real_classes, labels) + F.cross_entropy(fake_classes, labels)
        forward_loss = d_loss  # what the forward passes alone give, whatever the loss scale
        penalty_scale = self.penalty_scale(len(labels))
        if self.loss.gradient_penalty:
            size = len(labels) * self.dist.world_size
            mix = self.dist.shard(torch.rand(size, device=self.device, generator=self.noise))
            critic = lambda images, labels: self.judge(images, labels)[0]  # noqa: E731
            # On D's own inputs: the penalty bounds D's gradient where D is actually evaluated.
            penalty = gradient_penalty(critic, real_seen, fake_seen, labels, mix, penalty_scale)
            d_loss = d_loss + config.gp_weight * penalty
        if config.r1:  # by the images before augmentation, as StyleGAN2-ADA does
            d_loss = d_loss + config.r1 / 2 * r1_penalty(real_logits, real, penalty_scale)
        if config.consistency:  # D's rating of real images must not move when they shift a few pixels
            shifted = self.transformed(real_seen.detach(), ("translation",))
            d_loss = d_loss + config.consistency * consistency_loss(real_logits, self.judge(shifted, labels)[0])
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(d_loss).backward()
        d_norm, skipped = self.optimiser_step(self.scaler_d, self.opt_d, self.discriminator, measure)
        return DiscriminatorPhase(d_loss, forward_loss, d_norm, skipped, real_logits, fake_logits)

    def generator_phase(self, fake, z, labels, measure: bool) -> tuple[torch.Tensor, float | None, bool]:
        # G's loss flows back through D to the images, but D's own weight gradients would go unused (the
        # next D phase starts from none): frozen, autograd skips their convolutions.
        self.discriminator.requires_grad_(False)
        try:
            fake_logits, fake_classes = self.judge(self.augmented(fake), labels)
            g_loss = self.loss.g_loss(fake_logits, self.top_k_weights(fake_logits))
            if fake_classes is not None:  # cross-entropy on logits: no softmax before it
                g_loss = g_loss + F.cross_entropy(fake_classes, labels)
            if self.config.mode_seeking:  # on this rank's images: pairs do not cross ranks
                g_loss = g_loss + self.config.mode_seeking * mode_seeking_loss(fake, z, labels)
            self.opt_g.zero_grad(set_to_none=True)
            self.scaler_g.scale(g_loss).backward()
        finally:
            self.discriminator.requires_grad_(True)
        g_norm, skipped = self.optimiser_step(self.scaler_g, self.opt_g, self.generator, measure)
        return g_loss, g_norm, skipped

    def top_k_weights(self, fake_logits: torch.Tensor) -> torch.Tensor | None:
        """Top-k generator updates (Sinha et al. 2020): weights of this rank's images in G's adversarial loss,
        1/k for those among the k of the global batch that D rates most real and 0 for the rest (the paper
        finds the gradients of the images D rejects most point away from the data); None while G learns
        from all of them."""
        if self.top_k_share >= 1.0:
            return None
        scores = self.dist.gather(fake_logits.detach())
        k = max(1, round(self.top_k_share * len(scores)))
        kept = torch.zeros_like(scores)
        kept[scores.topk(k).indices] = 1.0
        # Times the world size: each rank's gradients are averaged, so its share of the global mean is scaled up.
        return self.dist.shard(kept) * (self.dist.world_size / k)

    def penalty_scale(self, rows: int) -> float | torch.Tensor:
        """What the penalties multiply the sum of D's `rows` outputs by before autograd (and divide the input
        gradients by after it): 1 but under fp16, where it is D's loss scale / rows. That is the gradient
        each output gets in the backward of D's scaled loss, a mean over the rows: so the penalties' fp16
        backward runs at the scale the scaler tunes for D's (the full scale on the sum of the outputs
        overflows fp16 at GradScaler's first scale, 2**16). A tensor: reading the scale would wait for the
        GPU every step."""
        if not self.scaler_d.is_enabled():
            return 1.0
        return self.scaler_d.scale(torch.ones((), device=self.device)) / rows

    def optimiser_step(
        self, scaler: torch.amp.GradScaler, optimizer: torch.optim.Optimizer, module: torch.nn.Module, measure: bool
    ) -> tuple[float | None, bool]:
        """Average `module`'s gradients over the ranks, clip them and step: returns their norm (measured, and
        when clipping, before clipping) and whether the scaler skipped the step for gradients that overflowed
        fp16 (known on measured steps). Norm and clipping are of the unscaled gradients."""
        self.dist.average_gradients(module)
        clip = self.config.clip_grad
        norm = None
        if measure or clip:
            scaler.unscale_(optimizer)  # a no-op but under fp16
            norm_tensor = grad_norm(module, clip)
            norm = float(norm_tensor) if measure else None
        scale = scaler.get_scale() if measure and scaler.is_enabled() else None
        scaler.step(optimizer)  # skipped if the gradients hold an inf or a NaN (fp16 only)
        scaler.update()  # fp16: the scale halves after a skipped step, doubles after GROWTH_INTERVAL good ones
        return norm, scale is not None and scaler.get_scale() < scale

    @torch.no_grad()
    def update_ema(self) -> None:
        """ema = decay * ema + (1 - decay) * weights; buffers (batch-norm statistics) are copied as they are.

        The decay warms up as (1 + step) / (10 + step): a 0.999 average from the first step would drag the
        random initial weights along for thousands of steps (measured: chance-level samples after epoch 1).
        """
        assert self.ema is not None and self.config.ema is not None, "only a run with --ema has an average"
        decay = min(self.config.ema, (1 + self.step) / (10 + self.step))
        ema_params = list(self.ema.parameters())
        torch._foreach_lerp_(ema_params, list(self.generator.parameters()), 1.0 - decay)
        for ema_buffer, buffer in zip(self.ema.buffers(), self.generator.buffers(), strict=True):
            ema_buffer.copy_(buffer)

    @property
    def sampler(self) -> torch.nn.Module:
        """The network to draw samples from: the EMA copy when there is one."""
        return self.ema if self.ema is not None else self.generator

    def is_finite(self) -> bool:
        """Whether every weight of both networks is a finite number (a diverged run's are not)."""
        params = [*self.generator.parameters(), *self.discriminator.parameters()]
        return bool(torch.stack([p.detach().float().isfinite().all() for p in params]).all())

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Everything a resumed run needs, as tensors and JSON metadata."""
        tensors = {
            **module_tensors("generator", self.generator),
            **(module_tensors("ema", self.ema) if self.ema is not None else {}),
            **module_tensors("discriminator", self.discriminator),
        }
        opt_g, groups_g = optimizer_tensors("opt_g", self.opt_g)
        opt_d, groups_d = optimizer_tensors("opt_d", self.opt_d)
        tensors.update(opt_g)
        tensors.update(opt_d)
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.noise"] = self.noise.get_state()
        meta = {
            "step": self.step,
            "arch": self.arch.to_dict(),
            "param_groups": {"opt_g": groups_g, "opt_d": groups_d},
        }
        if self.scaler_d.is_enabled():  # fp16: each scaler's scale and steps since its last overflow
            meta["loss_scalers"] = {"d": self.scaler_d.state_dict(), "g": self.scaler_g.state_dict()}
        return tensors, meta

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict, path: Path) -> None:
        """Restore what `state` gave; `path` names the checkpoint in errors."""
        try:
            same_model = ArchConfig.from_dict(meta.get("arch", {})) == self.arch
            step, groups = int(meta["step"]), meta["param_groups"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path} lacks {exc}; the checkpoint is damaged") from None
        if not same_model:
            raise CheckpointError(f"{path} was written for another model than the run's config.json describes")
        load_module("generator", self.generator, tensors, path)
        if self.ema is not None:
            load_module("ema", self.ema, tensors, path)
        load_module("discriminator", self.discriminator, tensors, path)
        load_optimizer("opt_g", self.opt_g, tensors, groups["opt_g"], path)
        load_optimizer("opt_d", self.opt_d, tensors, groups["opt_d"], path)
        try:
            torch.set_rng_state(tensors["rng.torch"])
            self.noise.set_state(tensors["rng.noise"])
        except (KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{path} has no usable random-number state ({exc})") from None
        if self.scaler_d.is_enabled() and "loss_scalers" in meta:
            load_loss_scalers({"d": self.scaler_d, "g": self.scaler_g}, meta["loss_scalers"], path)
        # A checkpoint without them comes from a session whose --precision auto chose bf16 or fp32 (on other
        # hardware): its fp16 continuation starts from the initial scale.
        self.step = step


# A GradScaler's state_dict(): its scale, its constants, and the steps since its last overflow.
SCALER_STATE = {"scale": float, "growth_factor": float, "backoff_factor": float, "growth_interval": int, "_growth_tracker": int}


def load_loss_scalers(scalers: dict[str, torch.amp.GradScaler], saved, path: Path) -> None:
    """Restore the loss scalers from a checkpoint's JSON (`state`'s "loss_scalers"), every number checked."""
    for name, scaler in scalers.items():
        state = saved.get(name) if isinstance(saved, dict) else None
        if not isinstance(state, dict) or set(state) != set(SCALER_STATE):
            raise CheckpointError(f"{path} has a damaged loss-scaler state ({name!r})")
        for key, kind in SCALER_STATE.items():
            value = state[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
                raise CheckpointError(f"{path} has a damaged loss-scaler state ({name}.{key} = {value!r})")
            if kind is int and value != int(value):
                raise CheckpointError(f"{path} has a damaged loss-scaler state ({name}.{key} = {value!r})")
        scaler.load_state_dict({key: kind(state[key]) for key, kind in SCALER_STATE.items()})
