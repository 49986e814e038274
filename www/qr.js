// QR codes as SVG, from the vendored encoder (vendor/qr.js, the npm package
// `qr`): the module matrix is drawn as one path of unit squares, so the code
// scales crisply on screen and on paper. No style attributes: the page's CSP
// allows none.
import encodeQR from "./vendor/qr.js";

const SVG = "http://www.w3.org/2000/svg";

/** The module matrix of `text` (rows of booleans, with a 4-module quiet zone). */
export function qrMatrix(text) {
  // Level M (15 % of the code may be damaged), byte mode (a URL is mixed case).
  return encodeQR(text, "raw", { ecc: "medium", border: 4, encoding: "byte" });
}

/** An `<svg>` of the QR code of `text`, with `label` as its accessible name. */
export function qrSvg(text, label) {
  const m = qrMatrix(text);
  const n = m.length;
  let d = "";
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if (!m[y][x]) continue;
      // Runs of dark modules on a row become one rectangle.
      let run = 1;
      while (x + run < n && m[y][x + run]) run++;
      d += `M${x} ${y}h${run}v1h-${run}z`;
      x += run - 1;
    }
  }
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${n} ${n}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  svg.setAttribute("shape-rendering", "crispEdges");
  svg.setAttribute("class", "qr");
  svg.dataset.modules = String(n);
  const bg = document.createElementNS(SVG, "rect");
  bg.setAttribute("width", String(n));
  bg.setAttribute("height", String(n));
  bg.setAttribute("fill", "#fff");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill", "#000");
  svg.append(bg, path);
  return svg;
}
