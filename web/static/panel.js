// The product panel: a modal dialog with the photo, price, stock and every attribute as a
// list of name/value/source rows (GET /v1/products/{sku}); a correction can be reverted.
// Closes with its button, Escape (the dialog's own cancel) or a click on the backdrop.

import { $, apiJson, button, el, fieldLabel, money, stockText } from "./dom.js";

let shown = 0; // only the latest product's answer is rendered
let onMore = null;
let current = null;
let onChange = null; // told after a revert (the health view reloads)

export function wirePanel(moreLike, changed) {
  onMore = moreLike;
  onChange = changed;
  const dialog = $("product");
  $("product-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // the backdrop
  });
  dialog.addEventListener("close", () => { shown += 1; });
  $("product-more").addEventListener("click", () => {
    dialog.close();
    if (current) onMore(current);
  });
}

// One name/value row; `data-name` is the field, `data-source` where its value comes from
// (catalog, corrected, predicted, missing), said in words in a second `dd`.
function row(name, value, from) {
  const item = el("div", "attr");
  item.dataset.name = name;
  item.append(el("dt", null, fieldLabel(name)), el("dd", null, value ?? "—"));
  if (from) {
    item.dataset.source = from.source;
    const source = el("dd", "source", sourceText(from));
    if (from.source === "corrected") {
      source.append(button("Revert", "link revert", () => revert(name)));
    }
    item.append(source);
  }
  return item;
}

function sourceText(from) {
  const guess = from.prediction;
  switch (from.source) {
    case "corrected":
      return `corrected by ${from.by} on ${(from.at || "").slice(0, 10)}` +
        (from.catalog ? ` (catalog: ${from.catalog}) ` : " ");
    case "predicted":
      return `from the photo (${from.confidence.toFixed(2)})`;
    case "missing":
      return `missing (photo says ${guess.value}, ${guess.confidence.toFixed(2)})`;
    default:
      return guess && guess.value !== from.value
        ? `catalog (photo says ${guess.value}, ${guess.confidence.toFixed(2)})` : "catalog";
  }
}

async function revert(name) {
  if (!current) return;
  const body = { sku: current.sku, attribute: name, by: "web" };
  $("product-status").textContent = "Reverting…";
  try {
    await apiJson(await fetch("/v1/attributes/revert", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    }));
    await openProduct(current);
    onChange?.();
  } catch (error) {
    $("product-status").textContent = error.message;
  }
}

function fill(product) {
  current = product;
  $("product-title").textContent = product.title || product.sku;
  $("product-sku").textContent = `sku ${product.sku}`;
  $("product-price").textContent = product.price == null ? "no price" : money(product.price);
  const stock = $("product-stock");
  stock.textContent = stockText(product.in_stock);
  stock.dataset.stock = String(product.in_stock);
  const image = $("product-image");
  image.hidden = !product.image_url;
  if (product.image_url) {
    image.src = product.image_url;
    image.alt = product.title || product.sku;
  }
  const sources = product.attribute_sources || {};
  const names = new Set([...Object.keys(product.attributes || {}), ...Object.keys(sources)]);
  const rows = [...names].sort((a, b) => a.localeCompare(b))
    .map((name) => row(name, product.attributes?.[name] ?? sources[name]?.value, sources[name]));
  $("product-attrs").replaceChildren(...rows);
}

function reset(hit) {
  current = null;
  $("product-title").textContent = hit.title || hit.sku;
  $("product-sku").textContent = `sku ${hit.sku}`;
  for (const id of ["product-price", "product-stock", "product-status"]) $(id).textContent = "";
  $("product-attrs").replaceChildren();
  $("product-image").hidden = true;
  $("product-image").removeAttribute("src");
}

export async function openProduct(hit) {
  const dialog = $("product");
  const mine = ++shown;
  reset(hit);
  dialog.dataset.state = "loading";
  $("product-status").textContent = "Loading…";
  if (!dialog.open) dialog.showModal();
  try {
    const response = await fetch(`/v1/products/${encodeURIComponent(hit.sku)}`);
    const product = await apiJson(response);
    if (mine !== shown) return;
    fill(product);
    $("product-status").textContent = "";
    dialog.dataset.state = "ready";
  } catch (error) {
    if (mine !== shown) return;
    $("product-status").textContent = error.message;
    dialog.dataset.state = "error";
  }
}
