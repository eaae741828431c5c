// Facet checkboxes, the chips of what is active (each removable, and "Clear all"), and the
// drawer the facets live in on a narrow screen (opened by the "Filters" button).

import { $, button, el, fieldLabel, money } from "./dom.js";

export const NARROW = window.matchMedia("(max-width: 720px)");
const openBoxes = new Set(); // facet fields whose box the shopper has open
let boxesSeen = false;

// facets: field -> [{value, count, selected}]; onToggle(field, value, on)
export function renderFacets(facets, filters, onToggle) {
  const entries = Object.entries(facets).filter(([, values]) => values.length);
  if (!boxesSeen && entries.length) {
    boxesSeen = true;
    entries.slice(0, NARROW.matches ? 2 : 4).forEach(([field]) => openBoxes.add(field));
  }
  const groups = entries.map(([field, values]) => {
    const group = el("details", "facet");
    group.dataset.field = field;
    group.open = openBoxes.has(field) || Boolean(filters[field]?.size);
    group.addEventListener("toggle", () => {
      if (group.open) openBoxes.add(field); else openBoxes.delete(field);
    });
    group.append(el("summary", null, fieldLabel(field)));
    const list = el("ul");
    for (const value of values) {
      const box = el("input");
      box.type = "checkbox";
      box.value = value.value;
      box.dataset.field = field;
      box.checked = value.selected;
      box.addEventListener("change", () => onToggle(field, value.value, box.checked));
      const label = el("label");
      const count = el("span", value.count ? "count" : "count zero", String(value.count));
      label.append(box, el("span", null, value.value), count);
      const item = el("li");
      item.append(label);
      list.append(item);
    }
    group.append(list);
    return group;
  });
  $("facet-list").replaceChildren(...groups);
}

// The active filters as chips. `active`: [{kind, field?, value?, text}]; onRemove(chip).
export function renderChips(active, onRemove) {
  const chips = active.map((chip) => {
    const item = el("li", "chip");
    item.dataset.kind = chip.kind;
    if (chip.field) item.dataset.field = chip.field;
    if (chip.value !== undefined) item.dataset.value = chip.value;
    item.append(el("span", null, chip.text));
    const remove = button("×", "icon", () => onRemove(chip));
    remove.setAttribute("aria-label", `Remove ${chip.text}`);
    item.append(remove);
    return item;
  });
  $("chips").replaceChildren(...chips);
  $("active").hidden = !chips.length;
  $("filters-button").textContent = active.length ? `Filters (${active.length})` : "Filters";
}

// What is filtered, in the order the chips show it.
export function activeFilters(filters, priceMin, priceMax) {
  const active = [];
  for (const [field, values] of Object.entries(filters)) {
    for (const value of values) {
      active.push({ kind: "facet", field, value, text: `${fieldLabel(field)}: ${value}` });
    }
  }
  if (priceMin !== "" || priceMax !== "") {
    const from = priceMin === "" ? "" : money(Number(priceMin));
    const to = priceMax === "" ? "" : money(Number(priceMax));
    const text = from && to ? `price ${from}–${to}` : from ? `price ≥ ${from}` : `price ≤ ${to}`;
    active.push({ kind: "price", text });
  }
  return active;
}

// ------------------------------------------------------------------ the drawer (narrow)

export function openDrawer() {
  document.body.classList.add("drawer-open");
  $("drawer-backdrop").hidden = false;
  $("filters-button").setAttribute("aria-expanded", "true");
  $("drawer-close").focus();
}

export function closeDrawer() {
  if (!document.body.classList.contains("drawer-open")) return;
  document.body.classList.remove("drawer-open");
  $("drawer-backdrop").hidden = true;
  $("filters-button").setAttribute("aria-expanded", "false");
  $("filters-button").focus();
}

export function wireDrawer() {
  $("filters-button").addEventListener("click", openDrawer);
  for (const id of ["drawer-close", "drawer-done", "drawer-backdrop"]) {
    $(id).addEventListener("click", closeDrawer);
  }
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("product").open) closeDrawer();
  });
  NARROW.addEventListener("change", () => { if (!NARROW.matches) closeDrawer(); });
}

export function drawerTotal(total) {
  $("drawer-done").textContent = total === 1 ? "Show 1 result" : `Show ${total} results`;
}
