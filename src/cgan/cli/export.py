"""`cgan export`: a generator as an ONNX file, or as a static web page that draws in the browser (both
need: pip install 'cgan[onnx]')."""

from __future__ import annotations

from ..progress import bars_on_terminal
from .common import output_path


def add_parser(commands) -> None:
    p = commands.add_parser(
        "export",
        help="export a generator to ONNX or as a web page that needs no server (needs: pip install 'cgan[onnx]')",
    )
    p.add_argument("run", help="run folder, weights file (e.g. RUN/best.safetensors) or bundled name (mnist)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--onnx", metavar="FILE", help="the .onnx file to write")
    target.add_argument(
        "--web", metavar="DIR", help="a folder to receive a static page that draws images in the browser"
    )
    p.set_defaults(handler=run)


def run(args) -> int:
    if args.web:
        from ..web_demo import export_web_demo

        with bars_on_terminal():
            demo = export_web_demo(args.run, args.web)
        print(
            f"wrote {demo.folder}: a static page, {demo.size_bytes / 1e6:.1f} MB, that draws images in the browser "
            f"(largest difference of its ONNX graph from PyTorch {demo.worst_difference:.1e}); "
            f"try it: python -m http.server -d {demo.folder}"
        )
        return 0
    from ..export import export_onnx

    output_path(args.onnx, (".onnx",), "--onnx")  # an ONNX file named otherwise would be taken for something else
    with bars_on_terminal():
        worst = export_onnx(args.run, args.onnx)
    print(
        f"wrote {args.onnx}: inputs z (batch, latent) float32 and labels (batch,) int64; "
        f"largest difference from PyTorch {worst:.1e}"
    )
    return 0
