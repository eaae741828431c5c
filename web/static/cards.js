// Result cards: photo, title, sku, brand, the attributes that matter, price, and why the
// product is there ("look 0.87" for a photo, "matches: red, boots" for words).

import { button, el, money, productImage } from "./dom.js";

const words = (text) => String(text || "").toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
// A plural "s" may be dropped on either side: "boots" matches "Boot", "boot" matches "Boots".
const stem = (word) => (word.length > 3 && word.endsWith("s") && !word.endsWith("ss")
  ? word.slice(0, -1) : word);

// The query words (as typed, once each) found in the product's title or attribute values.
export function matchedWords(query, hit) {
  const have = new Set([hit.title, ...Object.values(hit.attributes || {})]
    .flatMap(words).map(stem));
  const seen = new Set();
  return words(query).filter((word) => {
    if (seen.has(word)) return false;
    seen.add(word);
    return have.has(stem(word));
  });
}

// Why a hit is in the results, from its explanation and the words that were searched.
export function reasons(hit, query) {
  const why = hit.explanation || {};
  const out = [];
  if (why.exact_match) out.push("the photographed product");
  else if (why.similarity != null) out.push(`look ${why.similarity.toFixed(2)}`);
  if (query.keywords && why.keyword_match) { // a hybrid hit may match no word
    const found = matchedWords(query.keywords, hit);
    out.push(found.length ? `matches: ${found.join(", ")}` : "matches the description");
  }
  return out;
}

// The attributes a shopper scans for: article type, colour, gender (those the product has).
export function keyAttributes(attributes) {
  const colour = attributes.colour_group || attributes.colour;
  return [attributes.article_type || attributes.category, colour, attributes.gender]
    .filter(Boolean);
}

export function card(hit, query, actions) {
  const node = el("article", "card");
  node.dataset.sku = hit.sku;
  const attrs = hit.attributes || {};
  for (const [field, value] of Object.entries(attrs)) {
    node.setAttribute(`data-attr-${field}`, value);
  }
  const thumb = el("div", "thumb");
  if (hit.image_url) {
    thumb.append(productImage(hit.image_url, hit));
  } else {
    thumb.append(el("span", "meta", "no image"));
  }
  const body = el("div", "body");
  const title = button(hit.title || hit.sku, "title", () => {}); // opens the panel (bubbles)
  title.setAttribute("aria-haspopup", "dialog");
  const ids = el("p", "ids");
  ids.append(el("span", "sku", hit.sku));
  if (attrs.brand) ids.append(el("span", "brand", attrs.brand));
  body.append(title, ids);
  const key = keyAttributes(attrs);
  if (key.length) body.append(el("p", "meta attrs-line", key.join(" · ")));
  const row = el("div", "row");
  row.append(el("span", "price", money(hit.price)));
  body.append(row);
  const why = reasons(hit, query);
  if (why.length) body.append(el("p", "why", why.join(" · ")));
  const more = button("More like this", "secondary more", (event) => {
    event.stopPropagation();
    actions.moreLike(hit);
  });
  body.append(more);
  node.append(thumb, body);
  node.addEventListener("click", () => actions.open(hit));
  return node;
}
