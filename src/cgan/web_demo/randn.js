// torch.randn(n, generator=torch.Generator().manual_seed(seed)) of PyTorch on an x86-64 CPU, bit for bit.
//
// PyTorch draws uniforms from mt19937 and turns them into normals with Box-Muller. For n >= 16 it works in
// float32, 16 values at a time, with its AVX2 kernel on every CPU that has AVX2 (AVX-512 CPUs too: that
// kernel has no AVX-512 version); below 16 it works in float64, one pair of uniforms for two values.
// Each float32 step below is one of that kernel's, in its order; the functions agree with the compiled
// kernel on every input PyTorch can give them (all 2^24 of each). docs/web_demo.md has the details.

const bits = new DataView(new ArrayBuffer(4));
const asUint = (x) => (bits.setFloat32(0, x), bits.getUint32(0));
const asFloat = (u) => (bits.setUint32(0, u), bits.getFloat32(0));
const f32 = Math.fround;

class MersenneTwister {
  constructor(seed) {
    const state = new Uint32Array(624);
    state[0] = seed % 2 ** 32;
    for (let j = 1; j < 624; j++) {
      state[j] = Math.imul(1812433253, state[j - 1] ^ (state[j - 1] >>> 30)) + j;
    }
    this.state = state;
    this.next = 624;
  }

  uint32() {
    if (this.next === 624) this.refill();
    let y = this.state[this.next++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  refill() {
    const s = this.state;
    for (let i = 0; i < 624; i++) {
      const mixed = (s[i] & 0x80000000) | (s[(i + 1) % 624] & 0x7fffffff);
      s[i] = s[(i + 397) % 624] ^ (mixed >>> 1) ^ (mixed & 1 ? 0x9908b0df : 0);
    }
    this.next = 0;
  }

  float24() {  // uniform_real_distribution<float>(0, 1): 24 random bits
    return (this.uint32() & 0xffffff) / 2 ** 24;
  }

  float53() {  // uniform_real_distribution<double>(0, 1): 53 bits of random64() = (first << 32) | second
    const high = this.uint32() & 0x1fffff;
    return (high * 2 ** 32 + this.uint32()) / 2 ** 53;
  }
}

// float32 a*b + c rounded once, as the FMA instructions of PyTorch's compiled kernel do. a*b is exact in
// float64, so this rounds twice (the sum to float64, then to float32) only when that sum is not exact; for
// every input these functions get, that gives the same float32 (scripts/check_web_noise.py checks it).
const fmaf = (a, b, c) => f32(a * b + c);

// log256_ps and sincos256_ps of PyTorch's ATen/native/cpu/avx_mathfun.h (Cephes polynomials), one lane, with
// a multiply-add fused wherever PyTorch's compiler fuses it.
const LOG_P = [7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
  -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1].map(f32);
const SQRT_HALF = f32(0.707106781186547524);
const LOG_Q1 = f32(-2.12194440e-4);
const LOG_Q2 = f32(0.693359375);

function logf(v) {  // 0 < v <= 1
  const u = asUint(v);
  let e = f32((u >>> 23) - 126);
  let x = asFloat((u & ~0x7f800000) | 0x3f000000);  // the mantissa, in [0.5, 1)
  const small = x < SQRT_HALF;
  const tmp = small ? x : 0;
  x = f32(x - 1);
  if (small) e = f32(e - 1);
  x = f32(x + tmp);
  const z = f32(x * x);
  let y = LOG_P[0];
  for (let i = 1; i < LOG_P.length; i++) y = fmaf(y, x, LOG_P[i]);
  y = f32(y * x);
  y = fmaf(y, z, f32(e * LOG_Q1));
  y = f32(y - f32(z * 0.5));
  return fmaf(e, LOG_Q2, f32(x + y));
}

const FOUR_OVER_PI = f32(1.27323954473516);
const MINUS_DP = [-0.78515625, -2.4187564849853515625e-4, -3.77489497744594108e-8].map(f32);
const COS_P = [2.443315711809948E-005, -1.388731625493765E-003, 4.166664568298827E-002].map(f32);
const SIN_P = [-1.9515295891E-4, 8.3321608736E-3, -1.6666654611E-1].map(f32);

function sincosf(v) {  // v >= 0; returns [sin v, cos v]
  const j = (Math.trunc(f32(v * FOUR_OVER_PI)) + 1) & ~1;
  const y = f32(j);
  let x = v;
  for (const dp of MINUS_DP) x = fmaf(y, dp, x);  // v - j pi/4 in three parts
  const z = f32(x * x);
  let c = fmaf(COS_P[0], z, COS_P[1]);
  c = fmaf(c, z, COS_P[2]);
  c = f32(fmaf(f32(c * z), z, -f32(z * 0.5)) + 1);
  let s = fmaf(SIN_P[0], z, SIN_P[1]);
  s = fmaf(s, z, SIN_P[2]);
  s = fmaf(f32(s * z), x, x);
  let [sin, cos] = j & 2 ? [c, s] : [s, c];
  if (j & 4) sin = -sin;
  if (~(j - 2) & 4) cos = -cos;
  return [sin, cos];
}

const TWO_PI = f32(2 * Math.PI);

function boxMuller16(data, start) {
  for (let j = 0; j < 8; j++) {
    const u1 = f32(1 - data[start + j]);
    const u2 = data[start + j + 8];
    const radius = f32(Math.sqrt(-2 * logf(u1)));
    const [sin, cos] = sincosf(f32(TWO_PI * u2));
    data[start + j] = radius * cos;
    data[start + j + 8] = radius * sin;
  }
}

/** n standard normal float32 values, those of torch.randn(n) after torch.manual_seed(seed). */
export function randn(seed, n) {
  const rng = new MersenneTwister(seed);
  const out = new Float32Array(n);
  if (n < 16) {
    for (let i = 0; i < n; i += 2) {
      const u1 = rng.float53();
      const u2 = rng.float53();
      const radius = Math.sqrt(-2 * Math.log1p(-u2));
      const theta = 2 * Math.PI * u1;
      out[i] = radius * Math.cos(theta);
      if (i + 1 < n) out[i + 1] = radius * Math.sin(theta);
    }
    return out;
  }
  for (let i = 0; i < n; i++) out[i] = rng.float24();
  for (let i = 0; i + 16 <= n; i += 16) boxMuller16(out, i);
  if (n % 16 !== 0) {  // PyTorch draws the last 16 anew and transforms them together
    for (let i = n - 16; i < n; i++) out[i] = rng.float24();
    boxMuller16(out, n - 16);
  }
  return out;
}

