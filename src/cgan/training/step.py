"""One training step of a conditional GAN: the networks, their optimisers, the loss and the stabilisers.

A step is the discriminator phase (adversarial loss, AC-GAN's class loss, WGAN-GP's gradient penalty,
R1), then, on every n_critic-th step, the generator phase and the update of the generator's weight average
(EMA). The state of all of it goes to and from a checkpoint as tensors plus JSON.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checkpoint import load_module, load_optimizer, module_tensors, optimizer_tensors
from ..errors import CheckpointError
from ..models import ArchConfig, build_discriminator, build_generator
from .augment import augment, parse_policy
from .config import TrainConfig
from .distributed import Distributed
from .losses import get_loss, gradient_penalty, r1_penalty


def resolve_precision(name: str, device: torch.device) -> str:
    """auto -> bf16 where the device computes it natively (CUDA with bf16, CPUs with AVX-512 BF16 or AMX)."""
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


def grad_norm(module: torch.nn.Module, clip: float | None) -> float:
    """The L2 norm of all gradients of `module`, measured before clipping (which happens when `clip` is set)."""
    params = [p for p in module.parameters() if p.grad is not None]
    return float(torch.nn.utils.clip_grad_norm_(params, clip if clip is not None else math.inf))


class GANStep:
    """The networks, optimisers, loss and stabilisers of one run, and the step that updates them."""

    def __init__(
        self, config: TrainConfig, arch: ArchConfig, device: torch.device, dist: Distributed | None = None
    ):
        self.config = config
        self.arch = arch
        self.device = device
        self.dist = dist = dist or Distributed()
        torch.manual_seed(config.seed)
        self.bf16 = resolve_precision(config.precision, device) == "bf16"
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        generator = dist.synchronise_batch_norm(build_generator(arch))
        # torch's overloads of Module.to leave out memory_format, which it takes (its docstring shows it).
        self.generator = generator.to(device, memory_format=self.memory_format)  # type: ignore[call-overload]
        # The exponential moving average of the generator's weights: what samples, evaluation and
        # generator.safetensors use when --ema is on (smoother than the last step's weights).
        self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False) if config.ema else None
        self.discriminator = build_discriminator(arch).to(device, memory_format=self.memory_format)  # type: ignore[call-overload]
        betas = (config.beta1, config.beta2)
        fused = device.type in ("cpu", "cuda")  # Adam's fused kernel: same maths, faster (docs/speed.md)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=betas, fused=fused)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr, betas=betas, fused=fused)
        self.loss = get_loss(config.loss)
        self.augment_policy = parse_policy(config.augment) if config.augment else ()
        # One random stream for noise, augmentation and penalty mixing: saved in checkpoints for resume.
        self.noise = torch.Generator(device=device).manual_seed(config.seed)
        self.step = 0

    def autocast(self):
        """bf16 autocast of the forward passes under --precision bf16; a no-op context otherwise."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def judge(self, images: torch.Tensor, labels: torch.Tensor):
        """D's (logits, class logits or None), in fp32 whatever the precision: losses are taken in fp32."""
        with self.autocast():
            logits, classes = self.discriminator(images, labels)
        return logits.float(), classes.float() if classes is not None else None

    def augmented(self, images: torch.Tensor) -> torch.Tensor:
        """Images as D sees them: through DiffAugment when --augment is on."""
        if not self.augment_policy:
            return images
        # Each image is transformed on its own, by draws made for the global batch: this rank's images
        # take their place in it, so they get the draws (and the stream moves as) in one process.
        return self.dist.shard(augment(self.dist.in_global_batch(images), self.augment_policy, self.noise))

    def __call__(self, real: torch.Tensor, labels: torch.Tensor, measure: bool) -> dict | None:
        """One discriminator update, then a generator update on every n_critic-th step. With `measure`,
        the losses, D's mean outputs and the gradient norms."""
        update_g = (self.step + 1) % self.config.n_critic == 0
        # Drawn for the global batch and sliced, so every rank's stream stays where one process's is.
        size = len(labels) * self.dist.world_size
        z = self.dist.shard(torch.randn(size, self.arch.latent_dim, device=self.device, generator=self.noise))
        with torch.set_grad_enabled(update_g), self.autocast():
            fake = self.generator(z, labels)
        d_loss, d_norm, real_logits, fake_logits = self.discriminator_phase(real, fake.detach(), labels, measure)
        g_loss = g_norm = None
        if update_g:
            g_loss, g_norm = self.generator_phase(fake, labels, measure)
            if self.ema is not None:
                self.update_ema()
        self.step += 1
        if not measure:
            return None
        means = {
            "d_loss": d_loss,
            "d_real": torch.sigmoid(real_logits.detach()).mean(),
            "d_fake": torch.sigmoid(fake_logits.detach()).mean(),
            **({"g_loss": g_loss} if g_loss is not None else {}),
        }
        means = self.dist.mean(means)  # of the global batch
        return {
            "d_loss": means["d_loss"].item(),
            "g_loss": means["g_loss"].item() if g_loss is not None else None,
            "d_real": means["d_real"].item(),
            "d_fake": means["d_fake"].item(),
            "g_grad_norm": g_norm,
            "d_grad_norm": d_norm,
        }

    def discriminator_phase(self, real, fake, labels, measure: bool):
        config = self.config
        if config.r1:
            real = real.detach().requires_grad_(True)  # R1 differentiates D's output by its input
        real_seen, fake_seen = self.augmented(real), self.augmented(fake)
        real_logits, real_classes = self.judge(real_seen, labels)
        fake_logits, fake_classes = self.judge(fake_seen, labels)
        d_loss = self.loss.d_loss(real_logits, fake_logits)
        if real_classes is not None:  # AC-GAN: D also learns to name the class of real and of fake images
            d_loss = d_loss + F.cross_entropy(real_classes, labels) + F.cross_entropy(fake_classes, labels)
        if self.loss.gradient_penalty:
            size = len(labels) * self.dist.world_size
            mix = self.dist.shard(torch.rand(size, device=self.device, generator=self.noise))
            critic = lambda images, labels: self.judge(images, labels)[0]  # noqa: E731
            # On D's own inputs: the penalty bounds D's gradient where D is actually evaluated.
            d_loss = d_loss + config.gp_weight * gradient_penalty(critic, real_seen, fake_seen, labels, mix)
        if config.r1:  # by the images before augmentation, as StyleGAN2-ADA does
            d_loss = d_loss + config.r1 / 2 * r1_penalty(real_logits, real)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.dist.average_gradients(self.discriminator)
        d_norm = grad_norm(self.discriminator, config.clip_grad) if measure or config.clip_grad else None
        self.opt_d.step()
        return d_loss, d_norm, real_logits, fake_logits

    def generator_phase(self, fake, labels, measure: bool):
        fake_logits, fake_classes = self.judge(self.augmented(fake), labels)
        g_loss = self.loss.g_loss(fake_logits)
        if fake_classes is not None:  # cross-entropy on logits: no softmax before it
            g_loss = g_loss + F.cross_entropy(fake_classes, labels)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.dist.average_gradients(self.generator)
        clip = self.config.clip_grad
        g_norm = grad_norm(self.generator, clip) if measure or clip else None
        self.opt_g.step()
        return g_loss, g_norm

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
        self.step = step
