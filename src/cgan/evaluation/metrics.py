"""The statistics behind the metrics: Frechet distance between Gaussians, improved precision and recall
(Kynkaanniemi et al. 2019), per-class feature metrics, and the seeded choice of reference images."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import CganError

PR_NEIGHBOURS = 3  # k of Kynkaanniemi et al.
PR_CHUNK = 1000  # rows of the pairwise-distance matrix held at once: 1000 x 10000 floats = 40 MB


# --- statistics -------------------------------------------------------------------------------


# The linear algebra runs in torch, not numpy: numpy's threaded BLAS slows down a hundredfold on a
# shared CPU (docs/speed.md), while torch follows set_num_threads.


def gaussian_stats(features: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance (float64) of the rows of `features`."""
    values = torch.as_tensor(features, dtype=torch.float64)
    return values.mean(0), torch.atleast_2d(torch.cov(values.T))


def _sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    return (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians, in float64.

    tr (S1 S2)^(1/2) equals tr (R S2 R)^(1/2) with R = S1^(1/2); R S2 R is symmetric positive
    semi-definite, so both roots come from symmetric eigendecompositions (no scipy.linalg.sqrtm).
    """
    mu1, mu2, sigma1, sigma2 = (torch.as_tensor(v, dtype=torch.float64) for v in (mu1, mu2, sigma1, sigma2))
    root1 = _sqrt_psd(sigma1)
    inner = root1 @ sigma2 @ root1
    trace_root = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0).sqrt().sum()
    diff = mu1 - mu2
    distance = diff @ diff + sigma1.trace() + sigma2.trace() - 2 * trace_root
    return max(float(distance), 0.0)  # rounding can leave -1e-12 for identical Gaussians


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a * a).sum(1, keepdim=True) + (b * b).sum(1) - 2 * a @ b.T).clamp_(min=0)


def _neighbour_radii(points: torch.Tensor, k: int) -> torch.Tensor:
    """Squared distance from each point to its k-th nearest other point, computed in row chunks."""
    radii = []
    for chunk in points.split(PR_CHUNK):
        # k + 1: the point itself is among its nearest, at distance 0. (topk: faster than kthvalue.)
        radii.append(_squared_distances(chunk, points).topk(k + 1, dim=1, largest=False).values[:, -1])
    return torch.cat(radii)


def _coverage(queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor) -> float:
    """Fraction of queries inside at least one ball (point, radius): inside the points' manifold."""
    inside = 0
    for chunk in queries.split(PR_CHUNK):
        inside += int((_squared_distances(chunk, points) <= radii).any(1).sum())
    return inside / len(queries)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = PR_NEIGHBOURS) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of feature sets `fake` against `real`."""
    if len(real) <= k or len(fake) <= k:
        raise CganError(f"precision/recall need more than {k} images in each set")
    real, fake = real.float(), fake.float()
    precision = _coverage(fake, real, _neighbour_radii(real, k))
    recall = _coverage(real, fake, _neighbour_radii(fake, k))
    return precision, recall


def choose_per_class(labels: np.ndarray, counts: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """Indices of up to counts[c] items of each class c, chosen at random from `seed` (and `stream`, so
    that different uses of one seed draw independently)."""
    rng = np.random.default_rng([seed, stream])
    chosen = []
    for cls, count in enumerate(counts):
        members = np.flatnonzero(labels == cls)
        # Permute every class, even those not asked for, so one class's choice does not shift another's.
        chosen.append(rng.permutation(members)[:count])
    return np.sort(np.concatenate(chosen))


def confusion_matrix(
    predictions: np.ndarray, labels: np.ndarray, num_classes: int
) -> list[list[float] | None]:
    """Row c: the fraction of the images labelled c that the evaluator calls each class (so the diagonal is
    the per-class accuracy and each row sums to 1); None for a class with no images."""
    counts = np.bincount(labels * num_classes + predictions, minlength=num_classes**2)
    counts = counts.reshape(num_classes, num_classes)
    return [(row / row.sum()).tolist() if row.any() else None for row in counts]


def feature_metrics(
    features: torch.Tensor,
    predictions: np.ndarray,
    labels: np.ndarray,
    ref_features: torch.Tensor,
    ref_labels: np.ndarray,
    num_classes: int,
) -> dict:
    correct = predictions == labels
    per_class_accuracy: list[float | None] = []
    per_class_fd: list[float | None] = []
    for cls in range(num_classes):
        mine, theirs = labels == cls, ref_labels == cls
        per_class_accuracy.append(float(correct[mine].mean()) if mine.any() else None)
        if mine.sum() >= 2 and theirs.sum() >= 2:
            stats = gaussian_stats(features[mine]) + gaussian_stats(ref_features[theirs])
            per_class_fd.append(frechet_distance(*stats))
        else:
            per_class_fd.append(None)
    present = [fd for fd in per_class_fd if fd is not None]
    precision, recall = precision_recall(ref_features, features)
    return {
        "class_accuracy": float(correct.mean()),
        "per_class_accuracy": per_class_accuracy,
        "confusion": confusion_matrix(predictions, labels, num_classes),
        "fd_evaluator": frechet_distance(*gaussian_stats(features), *gaussian_stats(ref_features)),
        "fd_evaluator_per_class": per_class_fd,
        "fd_evaluator_per_class_mean": float(np.mean(present)) if present else None,
        "precision": precision,
        "recall": recall,
    }
