// Small DOM helpers. Product data only ever reaches the page through textContent.

export const $ = (id) => document.getElementById(id);

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

export function button(text, className, onClick) {
  const node = el("button", className, text);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

// A product photo that loads when it scrolls near (alt: the product's title, else its sku).
export function productImage(url, product) {
  const img = el("img");
  img.src = url;
  img.alt = product.title || product.sku;
  img.loading = "lazy";
  return img;
}

// "article_type" -> "article type"
export const fieldLabel = (field) => field.replace(/_/g, " ");

export function money(value) {
  return value == null ? "" : value.toFixed(2);
}

export function stockText(inStock) {
  if (inStock == null) return "stock unknown";
  return inStock ? "in stock" : "out of stock";
}

// The message of a failed API call: the service's own words when it sent its error body.
export async function apiJson(response) {
  let data = null;
  try {
    data = await response.json();
  } catch {
    // not JSON: say what the status says
  }
  if (!response.ok) {
    throw new Error(data?.error?.message || `The service answered HTTP ${response.status}.`);
  }
  return data;
}
