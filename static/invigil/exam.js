// The exam page: system check, start, questions with a countdown and autosave, submit, and upload
// progress until every recorded chunk is acknowledged. One page, so the camera and screen streams
// acquired in the check are the ones recorded.

import { momentElement } from "./moments.js";
import { serverClock, StreamRecorder, Uploader } from "./recorder.js";

const app = document.getElementById("exam-app");
const config = JSON.parse(document.getElementById("exam-config").textContent);
// Session statuses and their groups as the server names them (exams/lifecycle.py, base template).
const statuses = JSON.parse(document.getElementById("session-statuses").textContent);
const $ = (selector) => app.querySelector(selector);
const MIN_UPLOAD_KBIT = 700; // webcam+audio and screen at their bitrates, with headroom

let uploader = null;
let recorders = [];
let camera = null;
let screen = null;
let clockOffset = 0;
let deadline = null;

function csrf() {
  return document.querySelector("[name=csrfmiddlewaretoken]").value;
}

async function post(url, body, method = "POST") {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
    body: JSON.stringify(body ?? {}),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.detail || Object.values(data).flat().join(" ") || `Error ${response.status}`);
    error.consentUrl = data.consent_url;
    throw error;
  }
  return data;
}

function show(step) {
  for (const section of app.querySelectorAll("[data-step]")) section.hidden = section.dataset.step !== step;
  const heading = app.querySelector(`[data-step="${step}"] h1, [data-step="${step}"] h2`);
  heading?.setAttribute("tabindex", "-1");
  heading?.focus();
}

function mark(check, ok, text) {
  const item = $(`[data-check="${check}"]`);
  if (!item) return; // a stream this exam does not record has no row
  item.dataset.state = ok ? "ok" : "failed";
  item.querySelector(".check__result").textContent = text;
}

function problem(message) {
  const box = $("#check-problem");
  box.hidden = !message;
  box.textContent = message || "";
}

// --- System check ---------------------------------------------------------------------------

async function checkCamera() {
  const wantAudio = config.record.audio;
  if (!config.record.webcam && !wantAudio) return mark("camera", true, "Not recorded for this exam");
  try {
    camera = await navigator.mediaDevices.getUserMedia({
      video: config.record.webcam ? { width: 640, height: 480, frameRate: 15 } : false,
      audio: wantAudio ? { channelCount: 1 } : false,
    });
  } catch (error) {
    throw new Error(
      "Your camera or microphone could not be used. Allow access in the browser's address bar, close other " +
        `programs that use the camera, and try again. (${error.name})`,
    );
  }
  const video = camera.getVideoTracks()[0];
  if (video) {
    $("#camera-preview").srcObject = camera;
    const { width, height } = video.getSettings();
    mark("camera", true, `Working (${width}×${height})`);
  }
  if (wantAudio) {
    if (!camera.getAudioTracks().length) throw new Error("No microphone was found. Connect one and try again.");
    mark("microphone", true, "Working");
  }
}

async function checkScreen() {
  if (!config.record.screen) return mark("screen", true, "Not recorded for this exam");
  try {
    screen = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 5 }, audio: false, monitorTypeSurfaces: "include" });
  } catch (error) {
    throw new Error("Screen sharing was cancelled. Choose “Entire screen” when the browser asks, then try again.");
  }
  const surface = screen.getVideoTracks()[0].getSettings().displaySurface;
  if (surface && surface !== "monitor") {
    screen.getTracks().forEach((track) => track.stop());
    screen = null;
    throw new Error("You shared a window or a tab. This exam needs your entire screen: try again and choose “Entire screen”.");
  }
  mark("screen", true, "Entire screen shared");
}

async function checkUpload() {
  const blob = new Blob([crypto.getRandomValues(new Uint8Array(65536)).buffer, new ArrayBuffer(448 * 1024)]);
  const started = performance.now();
  const response = await fetch(config.urls.probe, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrf(), "Content-Type": "application/octet-stream" },
    body: blob,
  });
  if (!response.ok) throw new Error("The upload test could not reach the server. Check your connection and try again.");
  const kbit = Math.round((blob.size * 8) / 1000 / ((performance.now() - started) / 1000));
  if (kbit < MIN_UPLOAD_KBIT) {
    mark("upload", false, `${kbit} kbit/s`);
    throw new Error(`Your upload speed (${kbit} kbit/s) is below the ${MIN_UPLOAD_KBIT} kbit/s the recording needs. Move closer to your router or stop other uploads, then try again.`);
  }
  mark("upload", true, `${kbit} kbit/s`);
  return kbit;
}

async function runChecks(event) {
  event.preventDefault();
  problem("");
  const button = $("#run-check");
  button.disabled = true;
  button.textContent = "Checking…";
  try {
    await checkCamera();
    await checkScreen();
    checkResults = {
      camera: config.record.webcam ? "ok" : "not recorded",
      microphone: config.record.audio ? "ok" : "not recorded",
      screen: "monitor",
      upload_kbit: await checkUpload(),
    };
    if (config.status === "consented" && config.identity_required) {
      await startIdentity();
      return;
    }
    await checksDone("");
  } catch (error) {
    problem(error.message);
  } finally {
    button.disabled = false;
    button.textContent = "Check again";
  }
}

async function checksDone(attestation) {
  if (config.status === "consented") {
    await post(config.urls.check, { ...checkResults, identity: attestation });
    config.status = "ready";
  }
  show(config.status === "started" ? "exam" : "start");
  if (config.status === "started") {
    await startRecording();
    showAssessment(); // back after a reload: the LMS resumes the same attempt
  }
}

// --- Identity -------------------------------------------------------------------------------

let checkResults = null;
let identity = null;
let faceStage = "agree";
let failedMatches = 0;

function frameBlob() {
  const video = $("#identity-preview");
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth || 640;
  canvas.height = video.videoHeight || 480;
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
}

async function upload(url, fields) {
  const form = new FormData();
  for (const [name, value] of fields) {
    if (typeof value === "string") form.append(name, value);
    else form.append(name, value, `${name}.jpg`);
  }
  const response = await fetch(url, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf() }, body: form });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || `Error ${response.status}`);
  return data;
}

function identityProblem(message) {
  $("#identity-problem").hidden = !message;
  $("#identity-problem").textContent = message || "";
}

const FACE_STAGES = {
  agree: ["Agree to face matching", "Read the notice, tick the box, then press the button. Or choose a person to check your photo ID."],
  enrol: ["Enrol my face", "Look at the camera, alone, in good light. Five pictures will be taken over two seconds."],
  match: ["Check my face", "Look at the camera. One picture will be compared with your enrolled face, and no one else's."],
};

function faceStep(stage) {
  faceStage = stage;
  const [label, instruction] = FACE_STAGES[stage];
  $("#identity-next").textContent = label;
  $("#identity-instruction").textContent = instruction;
  $("#face-agree-row").hidden = stage !== "agree";
}

function showPath(path) {
  for (const item of $("#identity-checks").querySelectorAll("[data-path]")) item.hidden = item.dataset.path !== path;
}

async function startIdentity() {
  $("#identity-preview").srcObject = camera;
  identity = await (await fetch(config.urls.identity, { credentials: "same-origin" })).json();
  const faceMatching = identity.face_matching;
  $("#face-offered").hidden = !faceMatching.notice;
  $("#face-not-offered").hidden = Boolean(faceMatching.notice);
  if (faceMatching.notice) {
    $("#face-notice").textContent = faceMatching.notice.text;
    $("#face-version").textContent = faceMatching.notice.version;
  }
  if (faceMatching.agreed) {
    $("#face-agreed").hidden = false;
    $("#face-agreed").textContent = `You agreed to face matching (version ${faceMatching.version}). You can withdraw this on your My data page at any time.`;
    mark("agree", true, "Agreed");
  }
  if (identity.enrolled && faceMatching.agreed) mark("enrol", true, "Enrolled");
  showPath(faceMatching.notice ? "face" : "manual");
  if (faceMatching.notice) faceStep(!faceMatching.agreed ? "agree" : !identity.enrolled ? "enrol" : "match");
  else $("#identity-instruction").textContent = "Hold your photo ID up to the camera, then press the button.";
  show("identity");
  // Back after a reload while a person checks the photo ID: wait on (or go on) without asking again.
  const manual = await manualState();
  if (manual.decision === "pending" || manual.decision === "confirmed") {
    showPath("manual");
    mark("id-photo", true, "Stored");
    await manualOutcome(manual).catch((error) => identityProblem(error.message));
  }
}

async function identityNext() {
  identityProblem("");
  const button = $("#identity-next");
  button.disabled = true;
  try {
    if (faceStage === "agree") {
      if (!$("#face-agree").checked) {
        throw new Error("Tick the box to agree to face matching, or choose a person to check your photo ID instead.");
      }
      const answer = await post(config.urls.face_matching, { version: identity.face_matching.notice.version, agreed: true });
      identity.face_matching.agreed = true;
      identity.face_matching.version = answer.version;
      mark("agree", true, "Agreed");
      faceStep(identity.enrolled ? "match" : "enrol");
    } else if (faceStage === "enrol") {
      const frames = [];
      for (let i = 0; i < 5; i += 1) {
        frames.push(["frames", await frameBlob()]);
        await new Promise((resolve) => setTimeout(resolve, 400));
      }
      await upload(config.urls.enrol, frames);
      identity.enrolled = true;
      mark("enrol", true, "Enrolled");
      faceStep("match");
    } else {
      const result = await upload(config.urls.verify, [["reference", config.session], ["frame", await frameBlob()]]);
      if (!result.matched) throw new Error(result.detail);
      mark("match", true, "Matched");
      await checksDone(result.attestation);
    }
  } catch (error) {
    if (faceStage === "match") {
      failedMatches += 1;
      mark("match", false, "Not matched");
    }
    identityProblem(error.message);
    if (faceStage !== "agree") button.textContent = "Try again";
  } finally {
    button.disabled = false;
  }
}

async function identityManual() {
  identityProblem("");
  const button = $("#identity-manual");
  button.disabled = true;
  showPath("manual");
  try {
    const faceMatching = identity.face_matching;
    // Choosing a person is declining face matching, unless the student agreed to it before.
    if (faceMatching.notice && !faceMatching.agreed) {
      await post(config.urls.face_matching, { version: faceMatching.notice.version, agreed: false });
    }
    if (!identity.has_id_photo) {
      for (let second = 3; second > 0; second -= 1) {
        $("#identity-instruction").textContent = `Hold your photo ID up beside your face. Picture in ${second}…`;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      await upload(config.urls.id_photo, [["photo", await frameBlob()]]);
      identity.has_id_photo = true;
      $("#identity-instruction").textContent = "Your photo ID is stored, encrypted, for a person to check.";
    }
    mark("id-photo", true, "Stored");
    await manualOutcome(await post(config.urls.manual, { reference: config.session }));
  } catch (error) {
    identityProblem(error.message);
    button.textContent = "Try again";
  } finally {
    button.disabled = false;
  }
}

const MANUAL_POLL_MS = 5000;

/** A manual check lets the student start only once a person confirmed it: until then the page says
 * it waits and asks the server again every few seconds; a rejection is shown with the person's reason. */
async function manualOutcome(state) {
  const button = $("#identity-manual");
  if (state.decision === "confirmed") {
    mark("manual", true, "Confirmed by a person");
    $("#identity-instruction").textContent = "A person confirmed your identity.";
    await checksDone(state.attestation);
    return;
  }
  if (state.decision === "rejected") {
    mark("manual", false, "Not confirmed");
    identity.has_id_photo = false; // deleted at the decision: a new request needs a new picture
    button.hidden = false;
    button.textContent = "Take a new picture and ask again";
    identityProblem(`A person could not confirm your identity: ${state.reason} You can take a new picture of your photo ID and ask again, or contact your instructor.`);
    return;
  }
  mark("manual", true, "Waiting for a person");
  button.hidden = true;
  $("#identity-instruction").textContent = "A person from your course will compare your photo ID with the class list. Keep this page open: it moves on by itself once they have decided.";
  await new Promise((resolve) => setTimeout(resolve, MANUAL_POLL_MS));
  await manualOutcome(await manualState());
}

async function manualState() {
  const url = `${config.urls.manual}?${new URLSearchParams({ reference: config.session })}`;
  const response = await fetch(url, { credentials: "same-origin" });
  const state = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(state.detail || `Error ${response.status}`);
  return state;
}

// --- Recording ------------------------------------------------------------------------------

async function startRecording() {
  uploader = new Uploader({ session: config.session, tokenUrl: config.urls.token, csrfToken: csrf() });
  uploader.addEventListener("progress", (event) => showUpload(event.detail.pending));
  uploader.addEventListener("connected", () => ($("#recording-status").textContent = "Recording and uploading"));
  uploader.addEventListener("disconnected", () => ($("#recording-status").textContent = "Connection lost: recording continues and will upload when you are back online"));
  uploader.addEventListener("fatal", (event) => ($("#recording-status").textContent = `Recording stopped by the server (${event.detail.code}). Reload the page.`));
  await uploader.open();
  const options = { session: config.session, uploader };
  if (camera) {
    recorders.push(new StreamRecorder({ ...options, stream: "webcam", mediaStream: camera, videoBitsPerSecond: 400_000, audioBitsPerSecond: 32_000 }));
    camera.getTracks().forEach((track) => track.addEventListener("ended", () => uploader.signal("camera_ended", { kind: track.kind })));
  }
  if (screen) {
    recorders.push(new StreamRecorder({ ...options, stream: "screen", mediaStream: screen, videoBitsPerSecond: 150_000 }));
    screen.getVideoTracks()[0].addEventListener("ended", () => {
      uploader.signal("screen_share_ended");
      $("#screen-lost").hidden = false;
    });
  }
  recorders.forEach((recorder) => recorder.start());
  watchBrowser();
}

// Browser signals are watched during the attempt only; submit removes every listener.
const watching = new AbortController();

function watchBrowser() {
  const opts = { signal: watching.signal };
  document.addEventListener("visibilitychange", () => uploader.signal(document.hidden ? "tab_hidden" : "tab_visible"), opts);
  // Focus moving into the LMS's assessment frame blurs this window too; that is working, not leaving.
  window.addEventListener("blur", () => setTimeout(() => {
    if (!inAssessmentFrame()) uploader.signal("window_blur");
  }), opts);
  window.addEventListener("focus", () => uploader.signal("window_focus"), opts);
  document.addEventListener("fullscreenchange", () => uploader.signal(document.fullscreenElement ? "fullscreen_enter" : "fullscreen_exit"), opts);
  document.addEventListener("copy", () => uploader.signal("copy"), opts);
  document.addEventListener("paste", () => uploader.signal("paste"), opts);
  if (window.screen.isExtended) uploader.signal("extra_display");
}

function showUpload(pending) {
  const total = Math.max(uploader?.acked + pending, 1);
  $("#upload-progress").max = total;
  $("#upload-progress").value = total - pending;
  $("#upload-status").textContent = pending
    ? `Uploading your recording: ${pending} part${pending === 1 ? "" : "s"} left. Keep this page open.`
    : "Everything is uploaded.";
}

// --- Exam -----------------------------------------------------------------------------------

async function begin() {
  $("#begin").disabled = true;
  try {
    const state = await post(config.urls.begin);
    config.status = "started";
    setDeadline(state);
    document.documentElement.requestFullscreen?.().catch(() => {});
    showBreaks(state.breaks);
    await startRecording();
    showAssessment();
  } catch (error) {
    const problem = $("#begin-problem");
    problem.hidden = false;
    problem.textContent = error.message;
    if (error.consentUrl) {
      // A newer consent policy took effect since the student agreed: they read it before starting.
      const link = document.createElement("a");
      link.href = error.consentUrl;
      link.textContent = "Read the new version";
      problem.append(" ", link);
    }
    $("#begin").disabled = false;
  }
}

function setDeadline(state) {
  clockOffset = Date.parse(state.server_time) - Date.now();
  serverClock.offset = clockOffset;
  deadline = Date.parse(state.deadline);
}

// --- Breaks ---------------------------------------------------------------------------------
// A student whose accommodation allows breaks takes them here: the server stops the exam clock (it
// moves the deadline on) and hides nothing from the recording; the page hides the questions.

let breakUntil = null;

function minutesText(seconds) {
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? "" : "s"}`;
}

function showBreaks(breaks) {
  config.breaks = breaks;
  const bar = $("#break-bar");
  if (bar) {
    const plural = breaks.allowed === 1 ? "" : "s";
    const open = breaks.left > 0 && breaks.seconds_left >= 1;
    $("#break-allowance").textContent = open
      ? `${breaks.left} of ${breaks.allowed} break${plural} left, ${minutesText(breaks.seconds_left)} of break time.` +
        " The exam clock stops while you are away."
      : `You have taken ${breaks.left > 0 ? "all your break time" : `your ${breaks.allowed} break${plural}`}.`;
    $("#break-start").disabled = !open;
  }
  breakUntil = breaks.on_break ? Date.parse(breaks.until) : null;
  if (breaks.on_break) {
    show("break");
    breakTick();
  } else {
    show("exam");
  }
}

async function breakStart() {
  $("#break-problem-exam").hidden = true;
  if (!window.confirm("Start a break? The exam clock stops and your questions are hidden until you come back.")) return;
  await flushSaves(); // what was typed before the break is kept
  try {
    const state = await post(config.urls.break);
    setDeadline(state);
    showBreaks(state.breaks);
  } catch (error) {
    $("#break-problem-exam").hidden = false;
    $("#break-problem-exam").textContent = error.message;
  }
}

async function breakEnd() {
  $("#break-problem").hidden = true;
  try {
    const state = await post(config.urls.break, {}, "DELETE");
    setDeadline(state);
    showBreaks(state.breaks);
  } catch (error) {
    $("#break-problem").hidden = false;
    $("#break-problem").textContent = error.message;
  }
}

function breakTick() {
  if (breakUntil === null) return;
  const left = Math.max(0, breakUntil - (Date.now() + clockOffset));
  const minutes = Math.floor(left / 60000);
  const seconds = Math.floor((left % 60000) / 1000);
  $("#break-clock").textContent = `${minutes}:${String(seconds).padStart(2, "0")}`;
  if (left === 0) {
    // The break time is used up: the exam clock runs again, whether or not the student is back.
    breakUntil = null;
    breakEnd();
  }
}

function tick() {
  breakTick();
  if (!deadline || config.status !== "started" || breakUntil !== null) return;
  const left = Math.max(0, deadline - (Date.now() + clockOffset));
  const minutes = Math.floor(left / 60000);
  const seconds = Math.floor((left % 60000) / 1000);
  $("#time-left").textContent = `${minutes}:${String(seconds).padStart(2, "0")}`;
  if ([600, 300, 60].includes(Math.round(left / 1000))) $("#time-announce").textContent = `${minutes} minute${minutes === 1 ? "" : "s"} left`;
  if (left === 0) submit(true);
}

const waitingSaves = new Map(); // question -> [timer, body]
const inFlight = new Set();

async function saveNow(question, body) {
  const status = $(`#save-${question}`);
  status.textContent = "Saving…";
  const request = post(config.urls.answer, { question, ...body });
  inFlight.add(request);
  try {
    const saved = await request;
    status.replaceChildren("Saved at ", momentElement(saved.saved_at, { seconds: true }));
  } catch (error) {
    status.textContent = `Not saved: ${error.message}`;
  } finally {
    inFlight.delete(request);
  }
}

function save(question, body) {
  clearTimeout(waitingSaves.get(question)?.[0]);
  const timer = setTimeout(() => {
    waitingSaves.delete(question);
    saveNow(question, body);
  }, body.text === undefined ? 0 : 800);
  waitingSaves.set(question, [timer, body]);
}

async function flushSaves() {
  for (const [question, [timer, body]] of [...waitingSaves]) {
    clearTimeout(timer);
    waitingSaves.delete(question);
    saveNow(question, body);
  }
  await Promise.allSettled([...inFlight]);
}

async function submit(timeUp = false) {
  if (config.status !== "started") return;
  const question = config.assessment
    ? `Stop recording? Do this only once you have submitted the assessment in ${config.assessment.platform}.`
    : "Submit your answers? You cannot change them afterwards.";
  if (!timeUp && !window.confirm(question)) return;
  config.status = "submitting";
  await flushSaves(); // the last keystrokes are saved before the answers close
  try {
    await post(config.urls.submit);
  } catch (error) {
    config.status = "started";
    $("#submit-problem").hidden = false;
    $("#submit-problem").textContent = error.message;
    return;
  }
  await attemptEnded("submitted");
}

/** The attempt is over (submitted here, or ended by the LMS): stop recording, then upload the rest. */
async function attemptEnded(status) {
  config.status = status;
  watching.abort();
  clearInterval(assessmentWatch);
  show("finish");
  await Promise.all(recorders.map((recorder) => recorder.stop()));
  [camera, screen].forEach((media) => media?.getTracks().forEach((track) => track.stop()));
  await finishUploads();
}

// --- The LMS's assessment (an exam of the LMS) -------------------------------------------------
// The LMS's own page is shown in a frame below the exam bar; an LMS that forbids framing gets a window of
// its own, which the student opens (a window opened by a click is not blocked). Either way the LMS ends
// the attempt (LtiEndAssessment) and this page learns it from the server.

let assessmentWatch = null;
const ASSESSMENT_WINDOW = "invigil-lms-assessment";

function inAssessmentFrame() {
  return config.assessment && document.activeElement === $("#assessment-frame");
}

/** Once recording runs: the frame loads the assessment at once; a window needs the student's click (a
 * window opened without one is blocked), so its button is all the page shows. */
function showAssessment() {
  if (!config.assessment) return;
  if (config.assessment.display === "window") {
    $("#assessment").dataset.display = "window";
    $("#assessment-window").focus();
  } else {
    openAssessment("frame");
  }
}

function openAssessment(display) {
  if (!config.assessment) return;
  const form = $("#assessment-launch");
  form.elements.display.value = display;
  if (display === "window") {
    window.open("about:blank", ASSESSMENT_WINDOW);
    form.target = ASSESSMENT_WINDOW;
    $("#assessment").dataset.display = "window";
    uploader?.signal("assessment_window");
  } else {
    form.target = "lms-assessment";
  }
  form.submit();
  clearInterval(assessmentWatch);
  assessmentWatch = setInterval(watchAssessment, 3000);
}

async function watchAssessment() {
  const response = await fetch(config.assessment.status, { credentials: "same-origin" }).catch(() => null);
  if (!response?.ok) return; // offline for a moment: the next poll asks again
  const state = await response.json();
  if (config.status === "started" && statuses.groups.ATTEMPT_OVER.includes(state.status)) await attemptEnded(state.status);
}

/** Wait until every chunk in IndexedDB is acknowledged, then close the recordings. Also runs after a
 * reload of a finished attempt, so what the last page left behind still arrives. */
async function finishUploads() {
  if (!uploader) {
    uploader = new Uploader({ session: config.session, tokenUrl: config.urls.token, csrfToken: csrf() });
    uploader.addEventListener("progress", (event) => showUpload(event.detail.pending));
    await uploader.open();
  }
  const wait = setInterval(async () => {
    const pending = await uploader.pending();
    showUpload(pending);
    if (pending === 0) {
      clearInterval(wait);
      await post(config.urls.finalise).catch(() => {});
      uploader.close();
      $("#finish-done").hidden = false;
      app.dataset.uploaded = "true";
    }
  }, 500);
}

// --- Wiring ---------------------------------------------------------------------------------

$("#check-form").addEventListener("submit", runChecks);
$("#begin").addEventListener("click", begin);
$("#identity-next").addEventListener("click", identityNext);
$("#identity-manual").addEventListener("click", identityManual);
$("#submit").addEventListener("click", () => submit(false));
$("#break-start")?.addEventListener("click", breakStart);
$("#break-end").addEventListener("click", breakEnd);
$("#share-again").addEventListener("click", () => location.reload());
$("#assessment-window")?.addEventListener("click", () => openAssessment("window"));
/** What a question's input holds, as the answers API takes it: one choice, every ticked choice, or text. */
function answerOf(input, question) {
  if (input.type === "radio") return { choice: Number(input.value) };
  if (input.type === "checkbox") {
    const ticked = app.querySelectorAll(`input[type=checkbox][data-question="${question}"]:checked`);
    return { choices: [...ticked].map((box) => Number(box.value)) };
  }
  return { text: input.value };
}

for (const input of app.querySelectorAll("[data-question]")) {
  const question = Number(input.dataset.question);
  const choosing = input.type === "radio" || input.type === "checkbox";
  input.addEventListener(choosing ? "change" : "input", () => save(question, answerOf(input, question)));
}
if (config.deadline) setDeadline({ server_time: config.server_time, deadline: config.deadline });
setInterval(tick, 1000);
if (statuses.groups.ATTEMPT_ENDED.includes(config.status)) {
  show("finish");
  finishUploads();
} else {
  show("check");
}
