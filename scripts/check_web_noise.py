"""Check that the web demo's noise (src/cgan/web_demo/randn.js) is torch.randn's, bit for bit, more widely than
the tests can: run it after upgrading PyTorch. Needs an x86-64 CPU with AVX2, g++ and Node.js.

    python scripts/check_web_noise.py

1. Compiles log256_ps and sincos256_ps from the installed PyTorch's own header (ATen/native/cpu/avx_mathfun.h)
   into its Box-Muller step, as PyTorch's AVX2 kernel does, and checks that this build draws what torch.randn
   draws for many seeds (so the compiler fused the same multiply-adds as PyTorch's build).
2. Checks randn.js's logf and sincosf against that build on every input PyTorch can give them: 1 - k/2^24
   and float32(2 pi) * k/2^24 for all k < 2^24.
3. Checks randn.js's randn(seed, n) against torch.randn for seeds 0-299 and sizes from 1 to 25,600.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

RANDN_JS = Path(__file__).resolve().parents[1] / "src" / "cgan" / "web_demo" / "randn.js"
TORCH_INCLUDE = Path(torch.__file__).parent / "include"
SEEDS = range(300)
SIZES = [1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 32, 33, 100, 255, 256, 257, 624, 625, 1000, 1600, 6400, 25600]

KERNEL = r"""
#define CPU_CAPABILITY_AVX2
#include <immintrin.h>
#include <cstdio>
#include <cstdlib>
#include <ATen/native/cpu/avx_mathfun.h>

static const __m256 one = _mm256_set1_ps(1.0f), two_pi = _mm256_set1_ps(2.0f * 3.14159265358979323846);

int main(int argc, char** argv) {
  // "functions OUT": log(1 - k/2^24), cos and sin of two_pi * k/2^24 for every k.
  // "normals IN OUT": PyTorch's NormalFill16 (AVX2) over blocks of 16 uniforms.
  bool functions = argv[1][0] == 'f';
  long n = 1L << 24;
  float* in = nullptr;
  if (!functions) {
    FILE* f = fopen(argv[2], "rb"); fseek(f, 0, SEEK_END); n = ftell(f) / 4; fseek(f, 0, SEEK_SET);
    in = (float*)malloc(4 * n); if (fread(in, 4, n, f) != (size_t)n) return 1; fclose(f);
  }
  float* out = (float*)malloc(4 * 3 * n);
  for (long k = 0; k < n; k += functions ? 8 : 16) {
    if (functions) {
      float x[8]; for (int j = 0; j < 8; j++) x[j] = (float)(k + j) * (1.0f / 16777216.0f);
      __m256 u = _mm256_loadu_ps(x), s, c;
      _mm256_storeu_ps(out + k, log256_ps(_mm256_sub_ps(one, u)));
      sincos256_ps(_mm256_mul_ps(two_pi, u), &s, &c);
      _mm256_storeu_ps(out + n + k, c); _mm256_storeu_ps(out + 2 * n + k, s);
    } else {
      __m256 u1 = _mm256_sub_ps(one, _mm256_loadu_ps(in + k)), u2 = _mm256_loadu_ps(in + k + 8), s, c;
      __m256 radius = _mm256_sqrt_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), log256_ps(u1)));
      sincos256_ps(_mm256_mul_ps(two_pi, u2), &s, &c);
      _mm256_storeu_ps(out + k, _mm256_mul_ps(radius, c)); _mm256_storeu_ps(out + k + 8, _mm256_mul_ps(radius, s));
    }
  }
  FILE* f = fopen(argv[functions ? 2 : 3], "wb"); fwrite(out, 4, functions ? 3 * n : n, f); fclose(f);
  return 0;
}
"""

NODE = r"""
import {randn, logf, sincosf} from "./randn.mjs";
import fs from "fs";
const [what, out] = process.argv.slice(2);
if (what === "functions") {
  const n = 1 << 24, values = new Float32Array(3 * n), twoPi = Math.fround(2 * Math.PI);
  for (let k = 0; k < n; k++) {
    values[k] = logf(Math.fround(1 - k / n));
    [values[2 * n + k], values[n + k]] = sincosf(Math.fround(twoPi * (k / n)));
  }
  fs.writeFileSync(out, values);
} else {
  const {seeds, sizes} = JSON.parse(what);
  fs.writeFileSync(out, Buffer.concat(seeds.flatMap(s => sizes.map(n => Buffer.from(randn(s, n).buffer)))));
}
"""


def run(*command, cwd):
    subprocess.run(command, cwd=cwd, check=True)


def main() -> int:
    if torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"):
        print("needs an x86-64 CPU with AVX2: PyTorch runs another kernel here")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "kernel.cpp").write_text(KERNEL)
        run(
            "g++",
            "-std=gnu++17",
            "-O2",
            "-mavx2",
            "-mfma",
            f"-I{TORCH_INCLUDE}",
            "-o",
            "kernel",
            "kernel.cpp",
            cwd=work,
        )
        (work / "randn.mjs").write_text(RANDN_JS.read_text() + "\nexport {logf, sincosf};\n")
        (work / "check.mjs").write_text(NODE)

        size = 25600
        uniforms = np.concatenate(
            [torch.rand(size, generator=torch.Generator().manual_seed(s)).numpy() for s in SEEDS]
        )
        uniforms.tofile(work / "uniforms.bin")
        run("./kernel", "normals", "uniforms.bin", "normals.bin", cwd=work)
        built = np.fromfile(work / "normals.bin", dtype=np.float32)
        drawn = np.concatenate(
            [torch.randn(size, generator=torch.Generator().manual_seed(s)).numpy() for s in SEEDS]
        )
        print(
            f"1. compiled kernel vs torch.randn: {int((built != drawn).sum())} of {drawn.size:,} values differ"
        )

        run("./kernel", "functions", "kernel.bin", cwd=work)
        run("node", "check.mjs", "functions", "js.bin", cwd=work)
        kernel, js = (
            np.fromfile(work / name, dtype=np.float32).reshape(3, -1) for name in ("kernel.bin", "js.bin")
        )
        differ = [int((kernel[i] != js[i]).sum()) for i in range(3)]
        print(f"2. randn.js vs the kernel on all 2^24 inputs: log, cos, sin differ in {differ}")

        spec = json.dumps({"seeds": list(SEEDS), "sizes": SIZES})
        run("node", "check.mjs", spec, "randn.bin", cwd=work)
        js = np.fromfile(work / "randn.bin", dtype=np.float32)
        expected = np.concatenate(
            [torch.randn(n, generator=torch.Generator().manual_seed(s)).numpy() for s in SEEDS for n in SIZES]
        )
        print(
            f"3. randn.js vs torch.randn, {len(SEEDS)} seeds x {len(SIZES)} sizes: "
            f"{int((js != expected).sum())} of {expected.size:,} values differ"
        )
        return 0 if (built == drawn).all() and differ == [0, 0, 0] and (js == expected).all() else 1


if __name__ == "__main__":
    sys.exit(main())
