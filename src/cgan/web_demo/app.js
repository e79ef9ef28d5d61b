// The demo page: draws a grid of one class from a seed, as `cgan generate --label L --count N --seed S
// --precision fp32` does (the page computes in fp32).
import * as ort from "./ort/ort.wasm.bundle.min.js";
import {randn} from "./randn.js";

const MAX_COUNT = 64;
const PADDING = 2;  // black pixels around each image, as in the grids `cgan generate` writes

// More threads need a cross-origin isolated page, which a plain static host does not give.
ort.env.wasm.numThreads = 1;

const $ = (id) => document.getElementById(id);
let demo, session;

function wholeNumber(id, name, min, max) {
  const text = $(id).value.trim();
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new Error(`${name}: must be a whole number ${min}-${max}, got "${text}"`);
  }
  return Number(text);
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

// A word of a shell command as shlex.quote writes it: bare where that is safe, else in single quotes.
function shellWord(text) {
  if (/^[\w@%+=:,./-]+$/.test(text)) return text;  // \w is ASCII here, as in shlex
  return `'${text.replaceAll("'", `'"'"'`)}'`;
}

// The class as `cgan generate --label` reads it: by its name, because a class named like an index wins over
// the index (folders "1", "10", "2": --label 1 is the class "1"), and a name is what the user recognises.
function labelOption(name) {
  const word = shellWord(name);
  return word.startsWith("-") ? `--label=${word}` : `--label ${word}`;  // "-x" would read as an option
}

// uint8 as cgan's to_uint8: (x + 1) * 127.5 in float32, rounded half to even, clamped to 0-255.
function toByte(x) {
  const v = Math.fround(Math.fround(x + 1) * 127.5);
  let r = Math.round(v);
  if (r - v === 0.5 && r % 2 !== 0) r -= 1;
  return Math.min(255, Math.max(0, r));
}

function paint(images, count) {
  const [channels, height, width] = demo.image_shape;
  const columns = Math.ceil(Math.sqrt(count));
  const rows = Math.ceil(count / columns);
  const canvas = $("grid");
  canvas.width = columns * (width + PADDING) + PADDING;
  canvas.height = rows * (height + PADDING) + PADDING;
  const context = canvas.getContext("2d");
  const picture = context.createImageData(canvas.width, canvas.height);
  const pixels = picture.data;
  for (let i = 3; i < pixels.length; i += 4) pixels[i] = 255;
  for (let n = 0; n < count; n++) {
    const top = PADDING + Math.floor(n / columns) * (height + PADDING);
    const left = PADDING + (n % columns) * (width + PADDING);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const at = 4 * ((top + y) * canvas.width + left + x);
        for (let c = 0; c < 3; c++) {
          const channel = channels === 1 ? 0 : c;
          pixels[at + c] = toByte(images[((n * channels + channel) * height + y) * width + x]);
        }
      }
    }
  }
  context.putImageData(picture, 0, 0);
}

async function draw() {
  let seed, count;
  try {
    seed = wholeNumber("seed", "Seed", 0, Number.MAX_SAFE_INTEGER);
    count = wholeNumber("count", "Count", 1, MAX_COUNT);
  } catch (error) {
    showError(error.message);
    return;
  }
  showError("");
  const label = Number($("label").value);
  $("draw").disabled = true;
  try {
    const z = new ort.Tensor("float32", randn(seed, count * demo.latent_dim), [count, demo.latent_dim]);
    const labels = new ort.Tensor("int64", new BigInt64Array(count).fill(BigInt(label)), [count]);
    const {images} = await session.run({z, labels});
    paint(images.data, count);
  } finally {
    $("draw").disabled = false;
  }
  $("caption").textContent = `${demo.dataset}, class ${demo.classes[label]}, seed ${seed}`;
  const option = labelOption(demo.classes[label]);
  $("command").textContent = `${demo.generate} ${option} --count ${count} --seed ${seed} --precision fp32 --out grid.png`;
  $("result").hidden = false;
  document.body.dataset.drawn = `${label} ${seed} ${count}`;
}

async function start() {
  try {
    demo = await (await fetch("demo.json")).json();
    session = await ort.InferenceSession.create("generator.onnx", {executionProviders: ["wasm"]});
  } catch (error) {
    showError(`The model did not load: ${error.message}`);
    return;
  }
  $("status").hidden = true;
  document.title = `cgan: ${demo.dataset} in your browser`;
  $("title").textContent = `cgan: ${demo.dataset}`;
  demo.classes.forEach((name, index) => $("label").add(new Option(name, index)));
  $("form").addEventListener("submit", (event) => {
    event.preventDefault();
    draw();
  });
  $("random-seed").addEventListener("click", () => {
    $("seed").value = crypto.getRandomValues(new Uint32Array(1))[0] >>> 1;  // below 2^31, as the CLI's
    draw();
  });
  $("draw").disabled = false;
  document.body.dataset.ready = "true";
  await draw();
}

start();
