"""`cgan export`: a generator as an ONNX file (needs: pip install 'cgan[onnx]')."""

from __future__ import annotations


def add_parser(commands) -> None:
    p = commands.add_parser("export", help="export a generator to ONNX (needs: pip install 'cgan[onnx]')")
    p.add_argument("run", help="run folder, weights file (e.g. RUN/best.safetensors) or bundled name (mnist)")
    p.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ..export import export_onnx

    worst = export_onnx(args.run, args.onnx)
    print(
        f"wrote {args.onnx}: inputs z (batch, latent) float32 and labels (batch,) int64; "
        f"largest difference from PyTorch {worst:.1e}"
    )
    return 0


