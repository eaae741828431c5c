// The product panel: a modal dialog with the photo, price, stock and every attribute as a
// list of name/value rows (GET /v1/products/{sku}). Closes with its button, Escape (the
// dialog's own cancel) or a click on the backdrop.

import { $, apiJson, el, fieldLabel, money, stockText } from "./dom.js";

let shown = 0; // only the latest product's answer is rendered
let onMore = null;
let current = null;

export function wirePanel(moreLike) {
  onMore = moreLike;
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

// One name/value row; `data-name` is the field, so later columns (a value's source, a
// correction) can be added per row.
function row(name, value) {
  const item = el("div", "attr");
  item.dataset.name = name;
  item.append(el("dt", null, fieldLabel(name)), el("dd", null, value));
  return item;
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
  const rows = Object.entries(product.attributes || {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => row(name, value));
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
