"""`cgan train --tensorboard`: the run as TensorBoard shows it, in RUN/tensorboard/. metrics.csv stays the record;
this mirrors its rows as scalars, the per-epoch sample grids as images and the run's options as hparams.

A resumed session writes to the same folder and first drops what the killed session logged after its last
checkpoint (TensorBoard's purge step), as metrics.csv drops those rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..run_folder import QUALITY_COLUMNS, RunFolder
from .config import TrainConfig

# metrics.csv column -> TensorBoard tag; the prefix is the section TensorBoard groups it under.
TAGS = {
    "d_loss": "loss/d_loss",
    "g_loss": "loss/g_loss",
    "d_real": "d_output/d_real",
    "d_fake": "d_output/d_fake",
    "g_grad_norm": "grad_norm/g_grad_norm",
    "d_grad_norm": "grad_norm/d_grad_norm",
    "images_per_s": "speed/images_per_s",
    **{column: f"quality/{column}" for column in QUALITY_COLUMNS},
}


class TensorBoardLog:
    """The event files of one training session; use as a context manager so they are flushed however it ends."""

    def __init__(self, folder: RunFolder, config: TrainConfig, step: int):
        from torch.utils.tensorboard import SummaryWriter  # TrainConfig.validate checked that it is installed

        log_dir = folder.tensorboard_dir
        first_session = not log_dir.exists()
        # Rows up to the checkpoint's step are kept on resume (MetricsLog.truncate_after); later ones go.
        self.writer = SummaryWriter(log_dir, purge_step=None if first_session else step + 1)
        if first_session:
            self.write_hparams(config)

    def write_hparams(self, config: TrainConfig) -> None:
        from torch.utils.tensorboard.summary import hparams

        options = {key: "none" if value is None else value for key, value in config.to_dict().items()}
        for summary in hparams(options, dict.fromkeys(TAGS.values(), 0.0)):
            # SummaryWriter sets file_writer to None in __init__ and fills it in untyped code: mypy sees None.
            self.writer.file_writer.add_summary(summary)  # type: ignore[attr-defined]

    def mirroring(self, log: Callable[[dict], None]) -> Callable[[dict], None]:
        """`log` (which appends a row to metrics.csv), also writing the row's values as scalars."""

        def log_both(row: dict) -> None:
            log(row)
            for column, value in row.items():
                if column in TAGS:
                    self.writer.add_scalar(TAGS[column], value, row["step"])

        return log_both

    def sample_grid(self, grid: np.ndarray, step: int) -> None:
        self.writer.add_image("samples", grid, step, dataformats="HW" if grid.ndim == 2 else "HWC")

    def __enter__(self) -> TensorBoardLog:
        return self

    def __exit__(self, *exc) -> None:
        self.writer.close()
