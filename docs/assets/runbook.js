// The home page's cluster filter: rows of the cluster table stay visible when they match the name typed and the
// release and last-run result chosen. The columns are found by the `data-column` of the controls, so the page
// generator (generator/site.py) and this script agree on them in one place: the control's attribute.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector(".runbook-filter");
  const table = document.querySelector(".runbook-clusters table");
  if (!form || !table) return;
  const controls = [...form.querySelectorAll("[data-column]")];
  const count = form.querySelector(".runbook-count");
  const apply = () => {
    let shown = 0;
    for (const row of table.tBodies[0].rows) {
      const visible = controls.every(control => {
        const wanted = control.value.trim().toLowerCase();
        const cell = row.cells[Number(control.dataset.column)].textContent.trim().toLowerCase();
        return !wanted || (control.tagName === "SELECT" ? cell === wanted : cell.includes(wanted));
      });
      row.hidden = !visible;
      shown += visible ? 1 : 0;
    }
    if (count) count.textContent = `${shown} / ${table.tBodies[0].rows.length}`;
  };
  controls.forEach(control => control.addEventListener("input", apply));
  apply();
});

// A table wider than the page scrolls inside Material's wrapper, which its own script adds once the page is shown:
// the keyboard must reach it too, or a reader without a mouse cannot scroll it (axe: scrollable-region-focusable).
// The ledger has its own focusable wrapper (generator/site/ledger_table.py).
const focusableScrollers = () => {
  for (const wrap of document.querySelectorAll(".md-typeset__scrollwrap")) {
    if (wrap.scrollWidth > wrap.clientWidth && !wrap.closest(".runbook-ledger") && !wrap.hasAttribute("tabindex")) {
      wrap.tabIndex = 0;
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", wrap.querySelector("th")?.textContent.trim() || "table");
    }
  }
};
window.addEventListener("load", () => setTimeout(focusableScrollers));
window.addEventListener("resize", focusableScrollers);
