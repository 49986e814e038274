// The record page's tabs (the WAI-ARIA tabs pattern): one tab stop for the
// whole tab list (roving tabindex), arrow keys, Home and End move and select,
// each tab shows its own panel. Which view and tab are shown lives in the
// address's fragment (`#records/sharing`, `#people`), so a reload, a
// bookmark and the back and forward buttons keep it.
import { $, el } from "./ui.js";

/** The top-level views (the header's navigation) and the record's tabs. */
export const VIEWS = ["records", "shared", "people", "identity"];
export const RECORD_TABS = ["sections", "sharing", "links", "emergency", "requests", "audit"];

const tabsOf = (list) => [...list.querySelectorAll("[role=tab]")];

/** Shows tab `name` of `list` (and its panel), hiding the others; returns the tab. */
export function selectTab(list, name) {
  let chosen;
  for (const tab of tabsOf(list)) {
    const on = tab.dataset.tab === name;
    if (on) chosen = tab;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !on;
  }
  return chosen;
}

/**
 * Wires the keys and clicks of tab list `list`: `choose(name)` is called for
 * the tab a person picks (it selects it, e.g. through the address).
 */
export function wireTabs(list, choose) {
  for (const tab of tabsOf(list)) tab.addEventListener("click", () => choose(tab.dataset.tab));
  list.addEventListener("keydown", (ev) => {
    const tabs = tabsOf(list);
    const at = tabs.indexOf(document.activeElement);
    if (at < 0) return;
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[ev.key];
    if (to === undefined) return;
    ev.preventDefault();
    const next = tabs[(to + tabs.length) % tabs.length];
    next.focus();
    choose(next.dataset.tab);
  });
}

/**
 * Shows `count` things waiting in tab `name` of the record page (answers to
 * invitations, requests) as a badge beside its label, `what` saying what
 * they are to assistive technology; 0 removes it. The tab's name stays its
 * label.
 */
export function markTab(name, count, what) {
  const tab = document.querySelector(`#record-tabs [data-tab="${name}"]`);
  if (!tab) return;
  let badge = tab.querySelector(".badge");
  if (!count) {
    badge?.remove();
    tab.removeAttribute("title");
    tab.removeAttribute("aria-description");
    return;
  }
  if (!badge) tab.append((badge = el("span", { className: "badge", ariaHidden: "true" })));
  badge.textContent = String(count);
  tab.title = what;
  tab.setAttribute("aria-description", what);
}

/** The view and record tab the address names (`#records/audit`), defaults filled in. */
export function route(hash = location.hash) {
  const [view, tab] = hash.replace(/^#/, "").split("/");
  return {
    view: VIEWS.includes(view) ? view : "records",
    tab: RECORD_TABS.includes(tab) ? tab : undefined,
  };
}

/** The fragment for `view` (and the record's `tab`). */
export const fragment = (view, tab) => (view === "records" && tab ? `#records/${tab}` : `#${view}`);
