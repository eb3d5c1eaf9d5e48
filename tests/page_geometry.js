// Injected at the end of a generated page by tests/headless_chromium.py: measures the laid-out page
// and writes the findings as JSON into a pre element with id geometry (read back from Chromium's DOM dump).
(function () {
  const found = {chartsOutside: [], boxesOutside: [], scrollWidth: document.documentElement.scrollWidth,
                 innerWidth: window.innerWidth, charts: 0, cards: []};
  const num = (el, a) => parseFloat(el.getAttribute(a) || "0");
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.getAttribute("class") ? "." + el.getAttribute("class").split(" ").join(".") : "") +
    (el.dataset && el.dataset.metric ? "[" + el.dataset.metric + "]" : "");
  // Every chart's marks inside its viewBox.
  for (const svg of document.querySelectorAll("svg[viewBox]")) {
    found.charts += 1;
    const [, , w, h] = svg.getAttribute("viewBox").split(/[ ,]+/).map(Number);
    const inside = (x, y) => x >= -0.01 && y >= -0.01 && x <= w + 0.01 && y <= h + 0.01;
    const where = (svg.closest("[data-name]") ? svg.closest("[data-name]").dataset.name + " " : "") + name(svg);
    for (const el of svg.querySelectorAll("polyline, polygon")) {
      for (const p of el.getAttribute("points").trim().split(/\s+/)) {
        const [x, y] = p.split(",").map(Number);
        if (!inside(x, y)) found.chartsOutside.push(`${where}: ${name(el)} point ${x},${y} outside 0 0 ${w} ${h}`);
      }
    }
    for (const el of svg.querySelectorAll("circle")) {
      if (!inside(num(el, "cx"), num(el, "cy"))) found.chartsOutside.push(`${where}: circle ${num(el, "cx")},${num(el, "cy")} outside 0 0 ${w} ${h}`);
    }
    for (const el of svg.querySelectorAll("line")) {
      if (!inside(num(el, "x1"), num(el, "y1")) || !inside(num(el, "x2"), num(el, "y2")))
        found.chartsOutside.push(`${where}: ${name(el)} outside 0 0 ${w} ${h}`);
    }
    for (const el of svg.querySelectorAll("rect")) {
      const x = num(el, "x"), y = num(el, "y");
      if (!inside(x, y) || !inside(x + num(el, "width"), y + num(el, "height")))
        found.chartsOutside.push(`${where}: ${name(el)} outside 0 0 ${w} ${h}`);
    }
    for (const el of svg.querySelectorAll("text")) {  // laid out: compare with the svg's box on screen
      const b = el.getBoundingClientRect(), s = svg.getBoundingClientRect();
      if (b.left < s.left - 1 || b.right > s.right + 1 || b.top < s.top - 1 || b.bottom > s.bottom + 1)
        found.chartsOutside.push(`${where}: text "${el.textContent}" outside the chart`);
    }
  }
  // No element's box outside its container (HTML elements; svg internals are checked above).
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest("svg") && el.tagName.toLowerCase() !== "svg") continue;
    if (["script", "style", "pre", "title"].includes(el.tagName.toLowerCase()) || el.closest("[hidden]")) continue;
    const parent = el.parentElement, b = el.getBoundingClientRect(), p = parent.getBoundingClientRect();
    if (b.width === 0 && b.height === 0) continue;
    if (b.left < p.left - 1 || b.right > p.right + 1 || b.top < p.top - 1 || b.bottom > p.bottom + 1)
      found.boxesOutside.push(`${name(el)} [${Math.round(b.left)},${Math.round(b.top)},${Math.round(b.right)},${Math.round(b.bottom)}]` +
                              ` outside ${name(parent)} [${Math.round(p.left)},${Math.round(p.top)},${Math.round(p.right)},${Math.round(p.bottom)}]`);
  }
  for (const li of document.querySelectorAll("ul.cards > li")) {
    const b = li.getBoundingClientRect();
    found.cards.push({metric: li.dataset.metric, top: b.top, left: b.left, right: b.right});
  }
  const pre = document.createElement("pre");
  pre.id = "geometry";
  pre.textContent = JSON.stringify(found);
  document.body.appendChild(pre);
})();
