// The search page: one state object, one search() that sends it to POST /v1/search, and
// render functions that build the DOM with textContent only (product data is never HTML).
"use strict";

const PAGE_SIZE = 24;
const FACET_SIZE = 30;
const $ = (id) => document.getElementById(id);

const state = {
  config: null,
  file: null, // the picked or dropped photo (a File)
  similar: null, // {sku, title} for "more like this"
  filters: {}, // field -> Set of selected values
  page: 0,
  seq: 0, // only the latest response is rendered
};

function params() {
  const words = $("words").value.trim();
  const asText = state.config?.text_search &&
    document.querySelector('input[name="text-mode"]:checked')?.value === "text";
  const body = { k: PAGE_SIZE, page: state.page, facets: state.config?.facets || [] };
  body.facet_size = FACET_SIZE;
  if (words) body[asText ? "text" : "keywords"] = words;
  const url = $("image-url").value.trim();
  if (!state.file && !state.similar && url) body.image_url = url;
  if (state.similar) body.similar_to = state.similar.sku;
  const filters = {};
  for (const [field, values] of Object.entries(state.filters)) {
    if (values.size) filters[field] = [...values];
  }
  body.filters = filters;
  for (const [key, id] of [["price_min", "price-min"], ["price_max", "price-max"]]) {
    const value = $(id).value;
    if (value !== "") body[key] = Number(value);
  }
  return body;
}

async function search() {
  const seq = ++state.seq;
  const body = params();
  let request;
  if (state.file && !state.similar) {
    const form = new FormData();
    form.append("image", state.file);
    form.append("params", JSON.stringify(body));
    request = { method: "POST", body: form };
  } else {
    request = {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    };
  }
  document.body.dataset.state = "loading";
  $("status").textContent = "Searching…";
  $("search-button").disabled = true;
  try {
    const response = await fetch("/v1/search", request);
    const data = await response.json();
    if (seq !== state.seq) return;
    if (!response.ok) throw new Error(data.error?.message || `HTTP ${response.status}`);
    showError(null);
    render(data);
  } catch (error) {
    if (seq !== state.seq) return;
    showError(error.message);
    $("status").textContent = "";
    document.body.dataset.state = "error";
  } finally {
    if (seq === state.seq) $("search-button").disabled = false;
  }
}

function showError(message) {
  $("error").hidden = !message;
  $("error").textContent = message || "";
}

function render(data) {
  const start = data.page * data.k;
  const shown = data.hits.length;
  const what = { vector: "by look", hybrid: "by look and words", keywords: "by words",
    browse: "browsing" }[data.mode] || data.mode;
  $("status").textContent = shown
    ? `${data.total} results ${what}, showing ${start + 1}–${start + shown} ` +
      `(${Math.round(data.timings.service_ms ?? data.timings.total_ms)} ms)`
    : `No results ${what}.`;
  $("results").replaceChildren(...data.hits.map(card));
  $("prev").disabled = data.page === 0;
  $("next").disabled = start + shown >= data.total;
  renderFacets(data.facets || {});
  document.body.dataset.state = "ready"; // tests wait for this
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function card(hit) {
  const node = el("article", "card");
  node.dataset.sku = hit.sku;
  for (const [field, value] of Object.entries(hit.attributes || {})) {
    node.setAttribute(`data-attr-${field}`, value);
  }
  const thumb = el("div", "thumb");
  if (hit.image_url) {
    const img = el("img");
    img.src = hit.image_url;
    img.alt = hit.title || hit.sku;
    img.loading = "lazy";
    thumb.append(img);
  } else {
    thumb.append(el("span", "meta", "no image"));
  }
  const body = el("div", "body");
  body.append(el("p", "title", hit.title || hit.sku));
  const attrs = hit.attributes || {};
  const meta = [attrs.colour_group || attrs.colour, attrs.article_type || attrs.category]
    .filter(Boolean).join(" · ");
  if (meta) body.append(el("p", "meta", meta));
  const row = el("div", "row");
  row.append(el("span", "price", hit.price == null ? "" : `${hit.price.toFixed(2)}`));
  const why = hit.explanation || {};
  if (why.similarity != null) {
    row.append(el("span", "score", `similarity ${why.similarity.toFixed(3)}`));
  } else if (why.final_score != null) {
    row.append(el("span", "score", `score ${why.final_score.toFixed(4)}`));
  }
  body.append(row);
  const more = el("button", "secondary more", "More like this");
  more.type = "button";
  more.addEventListener("click", () => moreLike(hit));
  body.append(more);
  node.append(thumb, body);
  return node;
}

function renderFacets(facets) {
  const wide = window.matchMedia("(min-width: 721px)").matches;
  const open = new Set([...$("facets").querySelectorAll("details[open]")].map((d) => d.dataset.field));
  const groups = Object.entries(facets).filter(([, values]) => values.length).map(([field, values], i) => {
    const group = el("details", "facet");
    group.dataset.field = field;
    group.open = open.size ? open.has(field) : wide && i < 4;
    if (state.filters[field]?.size) group.open = true;
    group.append(el("summary", null, field.replace(/_/g, " ")));
    const list = el("ul");
    for (const value of values) {
      const item = el("li");
      const label = el("label");
      const box = el("input");
      box.type = "checkbox";
      box.value = value.value;
      box.dataset.field = field;
      box.checked = value.selected;
      box.addEventListener("change", () => toggle(field, value.value, box.checked));
      const count = el("span", value.count ? "count" : "count zero", String(value.count));
      label.append(box, el("span", null, value.value), count);
      item.append(label);
      list.append(item);
    }
    group.append(list);
    return group;
  });
  $("facets").replaceChildren(...groups);
}

function toggle(field, value, on) {
  const values = state.filters[field] || (state.filters[field] = new Set());
  if (on) values.add(value); else values.delete(value);
  state.page = 0;
  search();
}

function moreLike(hit) {
  state.similar = { sku: hit.sku, title: hit.title || hit.sku };
  $("similar-label").textContent = `More like: ${state.similar.title}`;
  $("similar").hidden = false;
  state.page = 0;
  search();
  window.scrollTo({ top: 0, behavior: "smooth" });
}

function setFile(file) {
  if (!file) return;
  state.file = file;
  state.similar = null;
  $("similar").hidden = true;
  $("image-url").value = "";
  const preview = $("preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  $("drop-hint").hidden = true;
  state.page = 0;
  search();
}

function clearAll() {
  state.file = null;
  state.similar = null;
  state.filters = {};
  state.page = 0;
  $("query").reset();
  $("preview").hidden = true;
  $("preview").removeAttribute("src");
  $("drop-hint").hidden = false;
  $("similar").hidden = true;
  search();
}

function wire() {
  const drop = $("drop");
  const input = $("file-input");
  drop.addEventListener("click", () => input.click());
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); }
  });
  input.addEventListener("change", () => setFile(input.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    setFile(event.dataTransfer.files[0]);
  });
  $("image-url").addEventListener("input", () => {
    if ($("image-url").value.trim()) {
      state.file = null;
      $("preview").hidden = true;
      $("drop-hint").hidden = false;
    }
  });
  $("query").addEventListener("submit", (event) => {
    event.preventDefault();
    if ($("image-url").value.trim()) state.similar = null;
    $("similar").hidden = !state.similar;
    state.page = 0;
    search();
  });
  $("clear-button").addEventListener("click", clearAll);
  $("similar-clear").addEventListener("click", () => {
    state.similar = null;
    $("similar").hidden = true;
    state.page = 0;
    search();
  });
  $("prev").addEventListener("click", () => { state.page -= 1; search(); });
  $("next").addEventListener("click", () => { state.page += 1; search(); });
}

async function start() {
  wire();
  try {
    const response = await fetch("/v1/config");
    const config = await response.json();
    if (!response.ok) throw new Error(config.error?.message || `HTTP ${response.status}`);
    state.config = config;
    $("text-mode").hidden = !config.text_search;
    if (!config.image_search) $("drop").hidden = true;
  } catch (error) {
    showError(`The search service is not ready: ${error.message}`);
    $("status").textContent = "";
    return;
  }
  search(); // a browse: the catalog's facets and first products
}

start();
