// Records webcam and screen with MediaRecorder and uploads every chunk over the recording socket.
// A chunk stays in IndexedDB until the server acknowledges it (after encrypting and storing it
// durably), so a dropped connection or a page reload loses nothing: what is left is sent again.

const DB_NAME = "invigil-recorder";
const STORE = "chunks";
const STREAMS = ["webcam", "screen"];
const FATAL_CLOSES = new Set([4401, 4403, 4404, 4409]);
// A socket that opens and closes at once (a server that accepts and then fails) must not reset the
// reconnect back-off, or the page reconnects twice a second for good. It resets once the server has
// acknowledged a chunk, or once a socket has stayed open this long.
const STEADY_MS = 5000;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** The server's clock as the page knows it: every time sent (chunks, signals) is on it, so a wrong
 *  laptop clock does not shift a flag. The exam page sets `offset` from the server's time. */
export const serverClock = { offset: 0, now() { return Date.now() + this.offset; } };

/** Chunks not yet acknowledged, kept across reloads. Key: [session, stream, part, seq]. */
export class ChunkStore {
  constructor(session) {
    this.session = session;
    this.db = null;
  }

  async open() {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: ["session", "stream", "part", "seq"] });
    this.db = await request(req);
  }

  tx(mode) {
    return this.db.transaction(STORE, mode).objectStore(STORE);
  }

  put(record) {
    return request(this.tx("readwrite").put({ session: this.session, ...record }));
  }

  delete(stream, part, seq) {
    return request(this.tx("readwrite").delete([this.session, stream, part, seq]));
  }

  async all() {
    const range = IDBKeyRange.bound([this.session], [this.session, []]);
    return request(this.tx("readonly").getAll(range));
  }
}

function frame(stream, part, seq, clientMs, data) {
  const header = new DataView(new ArrayBuffer(16));
  header.setUint8(0, 1);
  header.setUint8(1, STREAMS.indexOf(stream));
  header.setUint16(2, part);
  header.setUint32(4, seq);
  header.setBigUint64(8, BigInt(clientMs));
  const out = new Uint8Array(16 + data.byteLength);
  out.set(new Uint8Array(header.buffer), 0);
  out.set(new Uint8Array(data), 16);
  return out.buffer;
}

/** The socket: sends chunks and signals, deletes acknowledged chunks, reconnects and re-sends. */
export class Uploader extends EventTarget {
  constructor({ session, tokenUrl, csrfToken }) {
    super();
    this.session = session;
    this.tokenUrl = tokenUrl;
    this.csrfToken = csrfToken;
    this.store = new ChunkStore(session);
    this.parts = new Map(); // "stream:part" -> mime
    this.socket = null;
    this.started = new Set();
    this.starting = new Set();
    this.pendingSignals = [];
    this.retry = 0;
    this.steadyTimer = undefined;
    this.stopped = false;
    this.sent = 0;
    this.acked = 0;
  }

  async open() {
    await this.store.open();
    await this.connect();
  }

  state(kind, detail = {}) {
    this.dispatchEvent(new CustomEvent(kind, { detail }));
  }

  async connect() {
    if (this.stopped) return;
    let token;
    let url;
    try {
      const response = await fetch(this.tokenUrl, {
        method: "POST",
        headers: { "X-CSRFToken": this.csrfToken },
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error(`token ${response.status}`);
      ({ token, url } = await response.json());
    } catch (error) {
      this.scheduleReconnect();
      return;
    }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}${url}?token=${encodeURIComponent(token)}`);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    this.started = new Set();
    this.starting = new Set();
    socket.onopen = () => this.onOpen();
    socket.onmessage = (event) => this.onMessage(JSON.parse(event.data));
    socket.onclose = (event) => this.onClose(event);
  }

  async onOpen() {
    clearTimeout(this.steadyTimer);
    this.steadyTimer = setTimeout(() => { this.retry = 0; }, STEADY_MS);
    this.state("connected");
    const waiting = await this.store.all();
    for (const record of waiting) this.parts.set(`${record.stream}:${record.part}`, record.mime || "video/webm");
    for (const [key, mime] of this.parts) {
      const [stream, part] = key.split(":");
      this.socket.send(JSON.stringify({ type: "start", stream, part: Number(part), mime }));
    }
    for (const signal of this.pendingSignals.splice(0)) this.socket.send(JSON.stringify(signal));
  }

  async resend(stream, part) {
    const waiting = (await this.store.all()).filter((r) => r.stream === stream && r.part === part);
    waiting.sort((a, b) => a.seq - b.seq);
    for (const record of waiting) this.sendRecord(record);
  }

  sendRecord(record) {
    if (this.socket?.readyState !== WebSocket.OPEN || !this.started.has(`${record.stream}:${record.part}`)) return;
    this.socket.send(frame(record.stream, record.part, record.seq, record.clientMs, record.data));
    this.sent += 1;
  }

  async onMessage(message) {
    if (message.type === "started") {
      this.started.add(`${message.stream}:${message.part}`);
      await this.resend(message.stream, message.part);
    } else if (message.type === "ack") {
      this.retry = 0;
      await this.store.delete(message.stream, message.part, message.seq);
      this.acked += 1;
      this.state("progress", { pending: (await this.store.all()).length });
    } else if (message.type === "error") {
      this.state("problem", message);
    } else if (message.type === "closing") {
      this.state("closing", message);
    }
  }

  onClose(event) {
    clearTimeout(this.steadyTimer);
    this.state("disconnected", { code: event.code });
    if (FATAL_CLOSES.has(event.code)) {
      this.stopped = true;
      this.state("fatal", { code: event.code });
      return;
    }
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    if (this.stopped) return;
    const delay = Math.min(10000, 500 * 2 ** this.retry) * (0.75 + Math.random() / 2);
    this.retry += 1;
    setTimeout(() => this.connect(), delay);
  }

  async addChunk(stream, part, seq, mime, blob, began = serverClock.now()) {
    const record = { stream, part, seq, mime, clientMs: began, data: await blob.arrayBuffer() };
    this.parts.set(`${stream}:${part}`, mime);
    await this.store.put(record);
    this.state("progress", { pending: (await this.store.all()).length });
    const key = `${stream}:${part}`;
    if (this.socket?.readyState === WebSocket.OPEN && !this.started.has(key)) {
      if (!this.starting.has(key)) this.socket.send(JSON.stringify({ type: "start", stream, part, mime }));
      this.starting.add(key);
      return; // sent from the store once the server says the part is started
    }
    this.sendRecord(record);
  }

  signal(kind, detail = {}) {
    const message = { type: "signal", kind, client_time: serverClock.now(), detail };
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
    else this.pendingSignals.push(message);
  }

  async pending() {
    return (await this.store.all()).length;
  }

  close() {
    this.stopped = true;
    this.socket?.close(1000);
  }
}

function nextPart(session, stream) {
  // Each recorder start writes a new WebM file: a new part. The count survives a reload.
  const key = `invigil:${session}:${stream}:part`;
  const part = Number(localStorage.getItem(key) ?? -1) + 1;
  localStorage.setItem(key, String(part));
  return part;
}

function supported(types) {
  return types.find((type) => MediaRecorder.isTypeSupported(type)) ?? "";
}

/** One MediaRecorder with explicit bitrates, a chunk every `timeslice` ms, a keyframe every second. */
export class StreamRecorder {
  constructor({ session, stream, mediaStream, uploader, videoBitsPerSecond, audioBitsPerSecond, timeslice = 3000 }) {
    Object.assign(this, { session, stream, mediaStream, uploader, timeslice });
    const hasAudio = mediaStream.getAudioTracks().length > 0;
    this.mime = supported(hasAudio ? ["video/webm;codecs=vp8,opus", "video/webm"] : ["video/webm;codecs=vp8", "video/webm"]);
    this.options = { mimeType: this.mime, videoBitsPerSecond, videoKeyFrameIntervalDuration: 1000 };
    if (hasAudio) this.options.audioBitsPerSecond = audioBitsPerSecond;
  }

  start() {
    this.part = nextPart(this.session, this.stream);
    this.seq = 0;
    this.recorder = new MediaRecorder(this.mediaStream, this.options);
    this.stored = [];
    // Each chunk carries the time its media began, so the server can place every part on the exam's clock.
    this.recorder.onstart = () => { this.chunkBegan = serverClock.now(); };
    this.recorder.ondataavailable = (event) => {
      const began = this.chunkBegan ?? serverClock.now();
      this.chunkBegan = serverClock.now();
      if (event.data.size > 0) this.stored.push(this.uploader.addChunk(this.stream, this.part, this.seq++, this.mime, event.data, began));
    };
    this.recorder.start(this.timeslice);
  }

  stop() {
    return new Promise((resolve) => {
      if (!this.recorder || this.recorder.state === "inactive") return resolve();
      // Resolve only once the last chunk is in IndexedDB, so "nothing pending" really means done.
      this.recorder.addEventListener("stop", () => setTimeout(() => Promise.allSettled(this.stored).then(resolve), 0), { once: true });
      this.recorder.stop();
    });
  }
}
