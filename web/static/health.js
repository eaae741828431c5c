// The catalog-health view (#health): coverage per attribute (catalog / from photos /
// missing) and the probable mislabels with their photos, each with "Accept" (take what the
// photo says) or a typed value. Corrections go to POST /v1/attributes/set and are in search
// at once; the product panel shows each attribute's source and reverts a correction.

import { $, apiJson, button, el, fieldLabel, productImage } from "./dom.js";

let openPanel = null;
let loads = 0; // only the latest answer is rendered

export function wireHealth(openProduct) {
  openPanel = openProduct;
  window.addEventListener("hashchange", showView);
  $("review-threshold").addEventListener("change", loadHealth);
  showView();
}

export function healthShown() {
  return window.location.hash === "#health";
}

function showView() {
  const health = healthShown();
  $("health").hidden = !health;
  $("query").hidden = health;
  document.querySelector("main.layout").hidden = health;
  $("view-health").toggleAttribute("aria-current", health);
  $("view-search").toggleAttribute("aria-current", !health);
  if (health) {
    $("view-health").setAttribute("aria-current", "page");
    loadHealth();
  } else {
    $("view-search").setAttribute("aria-current", "page");
  }
}

function setStatus(text, kind = "info") {
  $("health-status").textContent = text;
  $("health-status").dataset.kind = kind;
}

export async function loadHealth() {
  const mine = ++loads;
  $("health").dataset.state = "loading";
  const threshold = Number($("review-threshold").value) || 0.95;
  try {
    const [coverage, review] = await Promise.all([
      fetch("/v1/attributes/coverage").then(apiJson),
      fetch(`/v1/attributes/review?threshold=${threshold}`).then(apiJson),
    ]);
    if (mine !== loads) return;
    renderCoverage(coverage);
    renderMislabels(review.mislabels);
    if (!Object.keys(coverage.attributes).length) {
      setStatus("No attribute models yet: run `visearch attributes train`, then reload.");
    }
    $("health").dataset.state = "ready"; // tests wait for this
  } catch (error) {
    if (mine !== loads) return;
    setStatus(error.message, "error");
    $("health").dataset.state = "error";
  }
}

function renderCoverage(data) {
  const names = Object.keys(data.attributes);
  const rows = names.map((name) => {
    const counts = data.attributes[name];
    const row = el("tr");
    row.dataset.attribute = name;
    row.append(el("th", null, fieldLabel(name)));
    for (const key of ["catalog", "predicted", "missing"]) {
      row.append(el("td", `num ${key}`, String(counts[key])));
    }
    const bar = el("div", "bar");
    for (const key of ["catalog", "predicted", "missing"]) {
      const part = el("span", key);
      part.style.width = `${(100 * counts[key]) / Math.max(data.products, 1)}%`;
      bar.append(part);
    }
    const cell = el("td", "bar-cell");
    cell.append(bar);
    row.append(cell);
    return row;
  });
  $("coverage").tBodies[0].replaceChildren(...rows);
}

function renderMislabels(rows) {
  setStatus(rows.length
    ? `${rows.length} catalog values the photos disagree with, most doubted first.`
    : "No catalog value is doubted at this level.");
  $("mislabels").replaceChildren(...rows.map(mislabel));
}

function mislabel(row) {
  const item = el("li", "mislabel");
  item.dataset.sku = row.sku;
  item.dataset.attribute = row.attribute;
  const open = () => openPanel({ sku: row.sku, title: row.title });
  const thumb = el("button", "thumb");
  thumb.type = "button";
  thumb.setAttribute("aria-label", `Open ${row.title || row.sku}`);
  if (row.image_url) thumb.append(productImage(row.image_url, row));
  thumb.addEventListener("click", open);
  const body = el("div", "body");
  const title = button(row.title || row.sku, "title", open);
  title.setAttribute("aria-haspopup", "dialog");
  const line = el("p", "claim");
  line.append(el("span", "attribute", `${fieldLabel(row.attribute)}: `),
    el("s", "catalog", row.catalog), el("span", null, " → photo says "),
    el("strong", "predicted", row.predicted),
    el("span", "meta", ` (${row.confidence.toFixed(2)})`));
  const actions = el("div", "actions");
  const accept = button(`Accept “${row.predicted}”`, "accept",
    () => correct(row, row.predicted, item));
  const typed = el("input", "value");
  typed.type = "text";
  typed.placeholder = "or type a value";
  typed.setAttribute("aria-label", `${fieldLabel(row.attribute)} of ${row.sku}`);
  const set = button("Set", "secondary set", () => correct(row, typed.value, item));
  typed.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); set.click(); }
  });
  actions.append(accept, typed, set);
  body.append(title, el("p", "meta sku", `sku ${row.sku}`), line, actions);
  item.append(thumb, body);
  return item;
}

// A correction, in search at once: the row says so (its panel can revert it) and the
// coverage counts are read again.
async function correct(row, value, item) {
  const controls = item.querySelectorAll(".actions button, .actions input");
  for (const node of controls) node.disabled = true;
  const body = { sku: row.sku, attribute: row.attribute, value, by: "web" };
  try {
    const done = await apiJson(await fetch("/v1/attributes/set", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    }));
    item.dataset.done = "true";
    const note = el("p", "done", `${fieldLabel(row.attribute)} is now “${done.value}”`);
    item.querySelector(".actions").replaceWith(note);
    setStatus(`${row.sku}: ${fieldLabel(row.attribute)} is now “${done.value}”.`);
    renderCoverage(await fetch("/v1/attributes/coverage").then(apiJson));
  } catch (error) {
    for (const node of controls) node.disabled = false;
    setStatus(error.message, "error");
  }
}
