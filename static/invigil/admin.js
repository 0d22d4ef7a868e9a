// The Django admin, mended where its own scripts fail WCAG 2.1 A and AA (tests/browser/test_accessibility.py).
// Each fix gives a control the name a sighted user reads from the page around it.

/** The text of an element without the "*" and ":" that decorate admin labels. */
function plain(element) {
  return (element?.textContent || "").replace(/[*:]/g, " ").replace(/\s+/g, " ").trim();
}

/** In a tabular inline, the heading of a control's column ("Delete" for the delete box), and the row's
 * object, so that "Role" in the third row says whose role it is. */
function columnName(control) {
  const cell = control.closest(".tabular td");
  if (!cell) return "";
  const field = [...cell.classList].find((name) => name.startsWith("field-"))?.slice("field-".length);
  const heading = field ? cell.closest("table").querySelector(`thead th.column-${CSS.escape(field)}`) : null;
  const name = plain(heading) || (cell.classList.contains("delete") ? "Delete" : "");
  const row = plain(cell.closest("tr")?.querySelector("td.original p"));
  return name && row ? `${name}: ${row}` : name;
}

/** Autocomplete fields (select2): the combobox is named by its text, which is empty until a value is
 * chosen; name it after the field's label instead. */
function nameAutocompletes(root) {
  for (const select of root.querySelectorAll("select.admin-autocomplete")) {
    const name = plain(select.labels?.[0]) || columnName(select);
    const box = select.nextElementSibling;
    if (!name || !box?.classList.contains("select2")) continue;
    for (const part of box.querySelectorAll("[role=combobox], [role=textbox]")) part.setAttribute("aria-label", name);
  }
}

/** Tabular inlines label their inputs only by the column heading; give each control that heading. */
function nameTableCells(root) {
  const controls = "td input:not([type=hidden]), td select:not(.admin-autocomplete), td textarea";
  for (const control of root.querySelectorAll(`.tabular ${controls.replaceAll(", ", ", .tabular ")}`)) {
    if (control.labels?.length || control.getAttribute("aria-label")) continue;
    const name = columnName(control);
    if (name) control.setAttribute("aria-label", name);
  }
}

/** The filter boxes' search icons carry aria-label on a plain span, which has no role to be named. */
function nameFilterIcons(root) {
  for (const icon of root.querySelectorAll("span.help-tooltip[aria-label]:not([role])")) icon.setAttribute("role", "img");
}

function mend(root = document) {
  nameAutocompletes(root);
  nameTableCells(root);
  nameFilterIcons(root);
}

// The admin's scripts build these widgets at different moments (select2 on jQuery's ready, the filter
// boxes on load, inline rows on "Add another"): mend whatever is there now, and again as soon as the
// page changes, before anything else can read it.
mend();
new MutationObserver(() => mend()).observe(document.body, { childList: true, subtree: true });
