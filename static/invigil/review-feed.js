// Live updates on the review dashboard: status changes and analysis progress of the sessions shown,
// from the exams' review feeds (ws/review/exams/<id>/). The page works without it; it only saves a reload.

const table = document.getElementById("review-sessions");
const live = document.getElementById("live-status");

function row(sessionId) {
  return table?.querySelector(`tr[data-session="${CSS.escape(sessionId)}"]`);
}

function show(event) {
  const tr = row(event.session_id);
  if (!tr) return;
  if (event.type === "session.status") {
    const badge = tr.querySelector('[data-cell="status"] .badge');
    if (badge) badge.textContent = event.status_label;
  } else if (event.type === "analysis.progress") {
    const cell = tr.querySelector('[data-cell="analysis"]');
    if (event.status === "running") cell.textContent = `${event.stage} (${event.progress}%)`;
    else if (event.status === "succeeded") cell.textContent = "Done: reload for the score";
    else if (event.status === "failed") cell.textContent = `Failed: ${event.failure_reason}`;
  }
}

function listen(examId, attempt = 0) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/review/exams/${examId}/`);
  socket.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "ready") live.textContent = "Live updates are on.";
    else if (event.type === "closing") live.textContent = event.message;
    else show(event);
  };
  socket.onclose = (event) => {
    if (event.code >= 4400 && event.code < 4500) return; // refused: retrying will not help
    live.textContent = "Live updates paused; reconnecting…";
    setTimeout(() => listen(examId, attempt + 1), Math.min(30000, 1000 * 2 ** attempt));
  };
}

if (table) {
  for (const examId of (table.dataset.exams || "").split(",").filter(Boolean)) listen(examId);
}
