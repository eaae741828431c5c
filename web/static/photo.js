// The photo drop zone: what it shows always agrees with the query. An upload previews once
// it loads (never a broken image); "more like this" shows that product's photo and says
// "like <sku>"; a file that is not an image is refused here, before any request.

import { $ } from "./dom.js";

let objectUrl = null;

// photo: {src, caption, alt} or null (an empty drop zone)
export function setPhoto(photo) {
  const preview = $("preview");
  if (objectUrl) URL.revokeObjectURL(objectUrl);
  objectUrl = photo?.src?.startsWith("blob:") ? photo.src : null;
  preview.hidden = true;
  preview.removeAttribute("src");
  if (photo?.src) {
    preview.alt = photo.alt || "";
    preview.src = photo.src; // shown by the load handler, hidden again if it fails
  }
  $("drop-caption").textContent = photo?.caption || "";
  $("drop-caption").hidden = !photo?.caption;
  $("drop-hint").hidden = Boolean(photo);
  $("photo-clear").hidden = !photo;
}

function refusal(file, maxBytes) {
  if (!file.type.startsWith("image/")) {
    const kind = file.type ? ` (${file.type})` : "";
    return `“${file.name}” is not an image${kind}: choose a photo (JPEG, PNG, WebP, …).`;
  }
  if (maxBytes && file.size > maxBytes) {
    const mb = (maxBytes / 1024 / 1024).toFixed(0);
    return `“${file.name}” is larger than the ${mb} MB the service accepts.`;
  }
  return null;
}

// hooks: onFile(file), onRefused(message), onClear(), maxBytes()
export function wirePhoto(hooks) {
  const drop = $("drop");
  const input = $("file-input");
  const preview = $("preview");
  preview.addEventListener("load", () => { preview.hidden = false; });
  preview.addEventListener("error", () => { preview.hidden = true; });

  const take = (file) => {
    input.value = ""; // the same file can be chosen again
    if (!file) return;
    const problem = refusal(file, hooks.maxBytes());
    if (problem) {
      setPhoto(null);
      hooks.onRefused(problem);
      return;
    }
    setPhoto({ src: URL.createObjectURL(file), caption: file.name, alt: "your photo" });
    hooks.onFile(file);
  };
  drop.addEventListener("click", () => input.click());
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); }
  });
  input.addEventListener("change", () => take(input.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    take(event.dataTransfer.files[0]);
  });
  $("photo-clear").addEventListener("click", hooks.onClear);
}
