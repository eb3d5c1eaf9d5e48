// Click a header of a table.sortable to sort its rows by that column; click again to reverse.
// A cell's data-sort (if any) is its key; the header's data-type says how to compare:
// text, number (also "drift": a rank in data-sort) or version (v1.2.10 after v1.2.9).
(function () {
  const versionKey = (v) => (v.replace(/^v/, "").split(/[.-]/).map((p) => (/^\d+$/.test(p) ? p.padStart(6, "0") : p)).join("."));
  function key(row, i, type) {
    const cell = row.cells[i];
    const raw = cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
    if (type === "number" || type === "drift") return Number(raw) || 0;
    if (type === "version") return versionKey(raw);
    return raw.toLowerCase();
  }
  document.querySelectorAll("table.sortable").forEach((table) => {
    const headers = table.tHead.rows[0].cells;
    Array.from(headers).forEach((th, i) => {
      th.addEventListener("click", () => {
        const asc = th.getAttribute("aria-sort") !== "ascending";
        Array.from(headers).forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        const rows = Array.from(table.tBodies[0].rows);
        rows.sort((a, b) => {
          const ka = key(a, i, th.dataset.type), kb = key(b, i, th.dataset.type);
          return (ka < kb ? -1 : ka > kb ? 1 : 0) * (asc ? 1 : -1);
        });
        rows.forEach((r) => table.tBodies[0].appendChild(r));
      });
    });
  });
})();
