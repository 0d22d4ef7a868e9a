// Live updates on the review dashboard, from the exams' review feeds (ws/review/exams/<id>/): a status
// change of a session shown is written into its row; a new session, a finished analysis (its score and
// place in the order), or a change to a session not shown (it may now match the filters) fetch this
// page again and swap in its list, so rows are rendered, filtered, ordered and logged by the server
// alone. The page works without it; it only saves a reload.

const rows = document.getElementById("review-rows");
const count = document.getElementById("session-count");
const live = document.getElementById("live-status");
/** At most one fetch of the list every this many milliseconds, however busy the exam. */
const REFRESH_SPACING = 2000;

function row(sessionId) {
  return rows.querySelector(`tr[data-session="${CSS.escape(sessionId)}"]`);
}

let refreshPending = false;
let lastRefresh = 0;

function refreshSoon() {
  if (refreshPending) return;
  refreshPending = true;
  setTimeout(() => {
    refreshPending = false;
    lastRefresh = Date.now();
    refresh().catch(() => { live.textContent = "Live updates could not fetch the list; reload the page to see it."; });
  }, Math.max(100, lastRefresh + REFRESH_SPACING - Date.now()));
}

async function refresh() {
  const response = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (!response.ok || response.redirected) throw new Error(`the server answered ${response.status}`);
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = page.getElementById("review-rows");
  if (!fresh) throw new Error("the page has no list");
  // Keep the reader's place: the link they were on, found again by its address.
  const focused = rows.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
  rows.replaceChildren(...fresh.childNodes);
  if (focused) rows.querySelector(`a[href="${CSS.escape(focused)}"]`)?.focus();
  const freshCount = page.getElementById("session-count")?.textContent;
  if (freshCount && freshCount !== count.textContent) count.textContent = freshCount;  // announced: aria-live
}

function show(event) {
  const tr = row(event.session_id);
  if (event.type === "session.opened") {
    if (!tr) refreshSoon();
  } else if (event.type === "session.status") {
    const badge = tr?.querySelector('[data-cell="status"] .badge');
    if (badge) badge.textContent = event.status_label;
    else refreshSoon();
  } else if (event.type === "analysis.progress" && tr) {
    const cell = tr.querySelector('[data-cell="analysis"]');
    if (event.status === "running") cell.textContent = `${event.stage} (${event.progress}%)`;
    else if (event.status === "failed") cell.textContent = `Failed: ${event.failure_reason}`;
    else if (event.status === "succeeded") refreshSoon();
  }
}

function listen(examId, attempt = 0) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/review/exams/${examId}/`);
  socket.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "ready") {
      live.textContent = "Live updates are on.";
      if (attempt > 0) refreshSoon(); // what changed while the feed was down
    } else if (event.type === "closing") live.textContent = event.message;
    else show(event);
  };
  socket.onclose = (event) => {
    if (event.code >= 4400 && event.code < 4500) return; // refused: retrying will not help
    live.textContent = "Live updates paused; reconnecting…";
    setTimeout(() => listen(examId, attempt + 1), Math.min(30000, 1000 * 2 ** attempt));
  };
}

if (rows) {
  for (const examId of (rows.dataset.exams || "").split(",").filter(Boolean)) listen(examId);
}
