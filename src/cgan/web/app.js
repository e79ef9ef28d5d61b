// The cgan page: pick a model and class, generate a grid or an interpolation, show what the API says.
"use strict";

const $ = (id) => document.getElementById(id);

// What the API calls a field, as this page labels it, so an error names the box to fix.
const FIELD_NAMES = {
  model: "Model", seed: "Seed", label: "Class", count: "Count", scale: "Scale",
  start: "From", end: "To", steps: "Steps",
};

let models = [];
const objectUrls = {};

// A whole number is sent as a number; anything else is sent as typed, so the server's message explains it.
function numberOrText(text) {
  const trimmed = text.trim();
  return /^-?\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
}

function seedField() {
  const text = $("seed").value.trim();
  return text === "" ? {} : { seed: numberOrText(text) };
}

function currentModel() {
  return models.find((m) => m.name === $("model").value);
}

function fillClasses(select, classes, extra) {
  select.replaceChildren();
  if (extra) select.append(new Option(extra.text, extra.value));
  classes.forEach((name, index) => {
    const text = name === String(index) ? name : `${index}: ${name}`; // "7", but "7: sneaker"
    select.append(new Option(text, String(index)));
  });
}

function showModel() {
  const model = currentModel();
  fillClasses($("label"), model.classes);
  fillClasses($("start"), model.classes);
  fillClasses($("end"), model.classes, { text: "same class (style only)", value: "" });
  $("end").value = String(Math.min(1, model.classes.length - 1));
  const trained = `${model.dataset}, ${model.step} training steps`;
  $("model-card").textContent = model.card ? `${model.card.title}: ${trained}.` : `${trained}.`;
}

// The server's own words: FastAPI's list of field errors, or a single detail for 413 and 503.
async function errorText(response) {
  let body;
  try {
    body = await response.json();
  } catch {
    return `the server answered ${response.status} ${response.statusText}`;
  }
  if (Array.isArray(body.detail)) {
    return body.detail
      .map((error) => {
        const field = error.loc[1] ?? "body"; // ["body", field, ...]
        return `${FIELD_NAMES[field] || field}: ${error.msg}`;
      })
      .join("; ");
  }
  return String(body.detail ?? response.statusText);
}

// POST a JSON body; show the returned image in `img`, or the error in `errorBox`. Returns the response.
async function request(path, body, { button, errorBox, figure, img }) {
  button.disabled = true;
  errorBox.hidden = true;
  try {
    const response = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      errorBox.textContent = await errorText(response);
      errorBox.hidden = false;
      return null;
    }
    if (objectUrls[img.id]) URL.revokeObjectURL(objectUrls[img.id]);
    objectUrls[img.id] = URL.createObjectURL(await response.blob());
    img.src = objectUrls[img.id];
    figure.hidden = false;
    return response;
  } catch (error) {
    errorBox.textContent = `no answer from the server (${error.message})`;
    errorBox.hidden = false;
    return null;
  } finally {
    button.disabled = false;
  }
}

async function generate(event) {
  event.preventDefault();
  const model = currentModel();
  const label = Number($("label").value);
  const response = await request(
    "/generate",
    {
      model: model.name,
      label,
      count: numberOrText($("count").value),
      scale: numberOrText($("scale").value),
      ...seedField(),
    },
    { button: $("generate"), errorBox: $("generate-error"), figure: $("result"), img: $("grid") },
  );
  if (!response) return;
  const seed = response.headers.get("X-Seed");
  const className = model.classes[label];
  $("grid-caption").textContent = `${model.name}, class ${className}, seed ${seed}`;
  $("download").href = objectUrls.grid;
  $("download").download = `${model.name}-${className}-seed${seed}.png`;
}

async function interpolate(event) {
  event.preventDefault();
  const model = currentModel();
  const start = Number($("start").value);
  // The start class picked again as the end means what "same class" does: a walk within the class.
  const end = $("end").value === "" || Number($("end").value) === start ? null : Number($("end").value);
  // Four styles side by side, enlarged three times: big enough to follow on a phone.
  const body = { model: model.name, start, steps: numberOrText($("steps").value), count: 4, scale: 3 };
  Object.assign(body, seedField(), end === null ? {} : { end });
  const response = await request("/interpolate", body, {
    button: $("play"), errorBox: $("interpolate-error"), figure: $("animation"), img: $("gif"),
  });
  if (!response) return;
  // Class names are the user's own ("sept bleu é"), so none is made plural.
  const from = model.classes[start];
  const what = end === null ? `${from} in other styles` : `${from} to ${model.classes[end]}`;
  $("gif-caption").textContent = `${what}, seed ${response.headers.get("X-Seed")}`;
}

async function start() {
  const response = await fetch("/models");
  models = await response.json();
  models.forEach((m) => {
    const text = m.name === m.dataset ? m.name : `${m.name} (${m.dataset})`;
    $("model").append(new Option(text, m.name));
  });
  showModel();
  $("model").addEventListener("change", showModel);
  $("random-seed").addEventListener("click", () => {
    $("seed").value = String(Math.floor(Math.random() * 2 ** 31));
  });
  $("generate-form").addEventListener("submit", generate);
  $("interpolate-form").addEventListener("submit", interpolate);
  document.body.dataset.ready = "true"; // for tests and scripts: the page can be used now
}

start();
