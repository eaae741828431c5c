// The search page: one state object, one search() that sends it to POST /v1/search, and
// render functions that build the DOM with textContent only (product data is never HTML).
// Cards live in cards.js, the product panel in panel.js, facets/chips/drawer in filters.js.

import { card } from "./cards.js";
import { $, apiJson, button, el, fieldLabel } from "./dom.js";
import {
  activeFilters, closeDrawer, drawerTotal, renderChips, renderFacets, wireDrawer,
} from "./filters.js";
import { healthShown, loadHealth, wireHealth } from "./health.js";
import { openProduct, wirePanel } from "./panel.js";
import { setPhoto, wirePhoto } from "./photo.js";

const PAGE_SIZE = 24;
const FACET_SIZE = 30;

const state = {
  config: null,
  file: null, // the picked or dropped photo (a File)
  similar: null, // the product of "more like this": {sku, title, image_url}
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
  if (!$("price").hidden) {
    for (const [key, id] of [["price_min", "price-min"], ["price_max", "price-max"]]) {
      const value = $(id).value;
      if (value !== "") body[key] = Number(value);
    }
  }
  return body;
}

function request(body) {
  if (state.file && !state.similar) {
    const form = new FormData();
    form.append("image", state.file);
    form.append("params", JSON.stringify(body));
    return { method: "POST", body: form };
  }
  const headers = { "Content-Type": "application/json" };
  return { method: "POST", headers, body: JSON.stringify(body) };
}

async function search() {
  const seq = ++state.seq;
  const body = params();
  const withFile = Boolean(state.file && !state.similar);
  renderActive();
  document.body.dataset.state = "loading";
  setStatus("Searching…");
  $("search-button").disabled = true;
  try {
    const data = await apiJson(await fetch("/v1/search", request(body)));
    if (seq !== state.seq) return;
    render(data, body);
  } catch (error) {
    if (seq !== state.seq) return;
    // Nothing on the page may pretend to answer the failed query.
    if (withFile) { state.file = null; setPhoto(null); }
    showFailure(error.message);
  } finally {
    if (seq === state.seq) $("search-button").disabled = false;
  }
}

function setStatus(text, kind = "info") {
  $("status").textContent = text;
  $("status").dataset.kind = kind;
}

// A failure: its message in the status line, and no results left from an earlier query.
function showFailure(message) {
  state.seq += 1; // a search still in flight must not bring old answers back
  setStatus(message, "error");
  $("results").replaceChildren();
  renderNotices([]);
  renderDetected({});
  $("prev").disabled = true;
  $("next").disabled = true;
  $("search-button").disabled = false;
  document.body.dataset.state = "error";
}

const MODES = { vector: "by look", hybrid: "by look and words", keywords: "by words",
  browse: "browsing" };

function emptyText(data, query) {
  const filtered = Object.keys(query.filters).length || "price_min" in query ||
    "price_max" in query;
  const words = query.keywords || query.text;
  if (words && data.mode === "keywords") {
    const hint = filtered ? ", remove a filter," : "";
    return `No products match the words “${words}”. Try fewer words${hint} or check the ` +
      "spelling.";
  }
  if (filtered) return "No results with these filters: remove one, or clear them all.";
  return `No results ${MODES[data.mode] || data.mode}.`;
}

function render(data, query) {
  const start = data.page * data.k;
  const shown = data.hits.length;
  const ms = Math.round(data.timings.service_ms ?? data.timings.total_ms);
  setStatus(shown
    ? `${data.total} results ${MODES[data.mode] || data.mode}, showing ` +
      `${start + 1}–${start + shown} (${ms} ms)`
    : emptyText(data, query));
  renderNotices(data.notices || []);
  renderDetected(data.detected || {});
  const actions = { moreLike, open: openProduct };
  $("results").replaceChildren(...data.hits.map((hit) => card(hit, query, actions)));
  $("prev").disabled = data.page === 0;
  $("next").disabled = start + shown >= data.total;
  renderFacets(data.facets || {}, state.filters, toggle);
  drawerTotal(data.total);
  document.body.dataset.state = "ready"; // tests wait for this
}

// What the service says about the filters: values no product has, with the closest ones
// as buttons that swap the value, and what emptied an empty result.
function renderNotices(notices) {
  const items = notices.map((notice) => {
    const item = el("li", "notice", notice.message);
    for (const value of notice.did_you_mean || []) {
      item.append(button(value, "link suggestion",
        () => swapValue(notice.field, notice.value, value)));
    }
    return item;
  });
  $("notices").replaceChildren(...items);
  $("notices").hidden = !items.length;
}

// What the attribute models read in the shopper's photo: one chip per attribute, which
// applies that filter in one click (gone once applied).
function renderDetected(detected) {
  const chips = Object.entries(detected)
    .filter(([field, guess]) => !state.filters[field]?.has(guess.value))
    .map(([field, guess]) => {
      const item = el("li", "chip detected-chip");
      item.dataset.field = field;
      item.dataset.value = guess.value;
      const text = `${fieldLabel(field)}: ${guess.value} (${guess.confidence.toFixed(2)})`;
      const apply = button(text, "link", () => toggle(field, guess.value, true));
      apply.title = `Show only ${fieldLabel(field)} ${guess.value}`;
      item.append(apply);
      return item;
    });
  $("detected-chips").replaceChildren(...chips);
  $("detected").hidden = !chips.length;
}

function swapValue(field, wrong, right) {
  const values = state.filters[field] || (state.filters[field] = new Set());
  values.delete(wrong);
  values.add(right);
  state.page = 0;
  search();
}

function renderActive() {
  const active = activeFilters(state.filters, ...priceInputs());
  renderChips(active, removeFilter);
}

function priceInputs() {
  if ($("price").hidden) return ["", ""];
  return [$("price-min").value.trim(), $("price-max").value.trim()];
}

function removeFilter(chip) {
  if (chip.kind === "facet") state.filters[chip.field]?.delete(chip.value);
  if (chip.kind === "price") { $("price-min").value = ""; $("price-max").value = ""; }
  state.page = 0;
  search();
}

function clearFilters() {
  state.filters = {};
  $("price-min").value = "";
  $("price-max").value = "";
  state.page = 0;
  search();
}

function toggle(field, value, on) {
  const values = state.filters[field] || (state.filters[field] = new Set());
  if (on) values.add(value); else values.delete(value);
  if (!values.size) delete state.filters[field];
  state.page = 0;
  search();
}

function moreLike(hit) {
  state.similar = { sku: hit.sku, title: hit.title || hit.sku, image_url: hit.image_url };
  state.file = null;
  $("image-url").value = "";
  setPhoto({ src: hit.image_url, caption: `like ${hit.sku}`, alt: state.similar.title });
  state.page = 0;
  closeDrawer();
  search();
  window.scrollTo({ top: 0, behavior: "smooth" });
}

function refused(message) {
  state.file = null;
  state.similar = null;
  showFailure(message);
}

function newPhoto(file) {
  state.file = file;
  state.similar = null;
  $("image-url").value = "";
  state.page = 0;
  search();
}

function dropPhoto() {
  state.file = null;
  state.similar = null;
  setPhoto(null);
  state.page = 0;
  search();
}

function clearAll() {
  state.file = null;
  state.similar = null;
  state.filters = {};
  state.page = 0;
  $("query").reset();
  setPhoto(null);
  search();
}

function wire() {
  wirePhoto({ onFile: newPhoto, onRefused: refused, onClear: dropPhoto,
    maxBytes: () => state.config?.max_upload_bytes });
  wirePanel(moreLike, () => { if (healthShown()) loadHealth(); });
  wireHealth(openProduct);
  wireDrawer();
  $("image-url").addEventListener("input", () => {
    if ($("image-url").value.trim()) {
      state.file = null;
      state.similar = null;
      setPhoto(null);
    }
  });
  $("query").addEventListener("submit", (event) => {
    event.preventDefault();
    state.page = 0;
    search();
  });
  $("clear-button").addEventListener("click", clearAll);
  $("chips-clear").addEventListener("click", clearFilters);
  $("prev").addEventListener("click", () => { state.page -= 1; search(); });
  $("next").addEventListener("click", () => { state.page += 1; search(); });
}

// Price inputs only where products have prices (the catalog's stats count none otherwise).
async function showPrices(facets) {
  const query = facets.length ? `?facet=${encodeURIComponent(facets[0])}` : "";
  try {
    const data = await apiJson(await fetch(`/v1/facets${query}`));
    const price = data.price;
    $("price").hidden = !price?.count;
    if (price?.count) {
      $("price-min").placeholder = String(Math.floor(price.min));
      $("price-max").placeholder = String(Math.ceil(price.max));
    }
  } catch {
    $("price").hidden = false; // unknown: do not take the inputs away
  }
  $("price").dataset.checked = "true";
}

async function start() {
  wire();
  try {
    state.config = await apiJson(await fetch("/v1/config"));
  } catch (error) {
    showFailure(`The search service is not ready: ${error.message}`);
    return;
  }
  $("text-mode").hidden = !state.config.text_search;
  if (!state.config.image_search) $("drop").hidden = true;
  showPrices(state.config.facets);
  search(); // a browse: the catalog's facets and first products
}

start();
