// The session review page: webcam and screen play in step; a flag's button, its mark on the timeline,
// or N and P, moves both players to it. Parts (one per recorder start) are placed on the attempt's
// clock by their offsets.

import { momentElement } from "./moments.js";

const parts = JSON.parse(document.getElementById("review-parts")?.textContent || "{}");
const webcam = document.getElementById("webcam-player");
const screen = document.getElementById("screen-player");
const position = document.getElementById("position");
const flags = [...document.querySelectorAll(".flag[data-start]")];
let current = { webcam: null, screen: null };

function clock(seconds) {
  const whole = Math.max(0, Math.round(seconds));
  const h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60), s = whole % 60;
  return h ? `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}` : `${m}:${String(s).padStart(2, "0")}`;
}

/** The part of a stream that covers session time `t` (the last one begun by then). */
function partAt(kind, t) {
  const list = parts[kind] || [];
  return list.filter((part) => part.offset <= t).at(-1) || list[0] || null;
}

function place(player, kind, t) {
  if (!player) return;
  const part = partAt(kind, t);
  if (!part) return;
  const go = () => { player.currentTime = Math.max(0, t - part.offset); };
  if (current[kind] !== part) {
    current[kind] = part;
    player.src = part.url;
    player.addEventListener("loadedmetadata", go, { once: true });
  } else {
    go();
  }
}

/** Session time now, from whichever player leads. */
function now() {
  const lead = webcam || screen;
  const kind = webcam ? "webcam" : "screen";
  return (current[kind]?.offset || 0) + (lead?.currentTime || 0);
}

function seek(t) {
  place(webcam, "webcam", t);
  place(screen, "screen", t);
}

function follow() {
  if (!webcam || !screen || !current.screen) return;
  const want = now() - current.screen.offset;
  if (Math.abs(screen.currentTime - want) > 0.3) screen.currentTime = Math.max(0, want);
}

if (webcam || screen) seek(0);
if (webcam && screen) {
  webcam.addEventListener("play", () => { follow(); screen.play().catch(() => {}); });
  webcam.addEventListener("pause", () => screen.pause());
  webcam.addEventListener("seeked", follow);
  webcam.addEventListener("timeupdate", follow);
}
(webcam || screen)?.addEventListener("timeupdate", () => { position.textContent = clock(now()); });

const playersColumn = document.querySelector(".review-layout__players");

/** Whether the players stay put while the page scrolls (the two-column layout of wide screens). */
function playersStayInView() {
  return playersColumn && getComputedStyle(playersColumn).position === "sticky";
}

// A flag's "Play from here" and its mark on the timeline (buttons both: mouse, Enter and Space) move
// the players to it. A mark also brings its flag into view beside the players, keeping focus on the
// timeline so the next mark is a Tab away; on narrow screens that scroll would hide the timeline.
for (const button of document.querySelectorAll("[data-seek]")) {
  button.addEventListener("click", () => {
    seek(Number(button.dataset.seek));
    const flag = button.closest(".flag") || document.getElementById(button.dataset.flag || "");
    flag?.classList.add("flag--visited");
    if (flag && !button.closest(".flag") && playersStayInView()) flag.scrollIntoView({ block: "nearest" });
  });
}

document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key.toLowerCase();
  if (key === "k" && (webcam || screen)) {
    const lead = webcam || screen;
    if (lead.paused) lead.play(); else lead.pause();
  } else if ((key === "n" || key === "p") && flags.length) {
    const t = now();
    const starts = flags.map((flag) => Number(flag.dataset.start));
    const index = key === "n" ? starts.findIndex((s) => s > t + 0.5) : starts.findLastIndex((s) => s < t - 0.5);
    const target = flags[index === -1 ? (key === "n" ? flags.length - 1 : 0) : index];
    seek(Number(target.dataset.start));
    target.querySelector("[data-seek]")?.focus();
  } else {
    return;
  }
  event.preventDefault();
});

// Verdicts on flags are sent without leaving the page, so the players keep their place; without
// script the forms post and come back to the flag.
const csrf = document.querySelector("[name=csrfmiddlewaretoken]")?.value;
for (const form of document.querySelectorAll("form[data-flag-decision]")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = form.querySelector(".field__error");
    const note = form.querySelector("textarea");
    const data = new FormData(form);
    data.set("verdict", event.submitter?.value || "");
    if (form.dataset.busy) return;  // one verdict at a time per flag
    form.dataset.busy = "1";
    const buttons = [...form.querySelectorAll("button")];
    const pressed = event.submitter;
    buttons.forEach((button) => { button.setAttribute("aria-disabled", "true"); });
    error.hidden = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: data,
        headers: { Accept: "application/json", "X-CSRFToken": csrf },
        credentials: "same-origin",
      });
      if (response.redirected) {
        throw new Error("your sign-in has expired. Sign in again in another tab, then press the button again; your note is still here.");
      }
      if (!(response.headers.get("Content-Type") || "").includes("application/json")) {
        throw new Error(`the server answered ${response.status}; your note is still here.`);
      }
      const answer = await response.json();
      if (!response.ok || !answer.verdict) throw new Error(answer.error || `the server answered ${response.status}.`);
      const verdict = form.closest(".flag").querySelector("[data-verdict]");
      const badge = document.createElement("span");
      badge.className = `badge ${answer.verdict === "dismissed" ? "badge--neutral" : "badge--danger"}`;
      badge.textContent = answer.verdict_label;
      verdict.replaceChildren(badge, ` by ${answer.reviewer}, `, momentElement(answer.decided_at), `: ${answer.note}`);
      note.value = "";
      const waiting = document.getElementById("undecided-flags");
      if (waiting) {
        waiting.textContent = answer.undecided === 0
          ? "Every possible-concern flag has a verdict: you can record your decision below."
          : `Give every possible-concern flag a verdict before you decide. Flags still without a verdict: ${answer.undecided}.`;
        waiting.className = answer.undecided === 0 ? "alert alert--success" : "alert alert--warning";
      }
    } catch (failure) {
      error.textContent = `Not recorded: ${failure.message}`;
      error.hidden = false;
      note.focus();
    } finally {
      buttons.forEach((button) => { button.removeAttribute("aria-disabled"); });
      delete form.dataset.busy;
      if (document.activeElement === document.body) pressed?.focus();
    }
  });
}

// After a refused decision the page comes back with the reason: take the reader there.
document.getElementById("decision-error")?.focus();
