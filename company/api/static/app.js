// The voice page: record (MediaRecorder), send, then follow the task's events (EventSource).
// Everything the server sends is shown with textContent, so no HTML from it is ever parsed.
"use strict";

const $ = (id) => document.getElementById(id);
const ui = {
  key: $("api-key"), record: $("record"), timer: $("timer"), discard: $("discard"),
  preview: $("preview"), text: $("text"), submit: $("submit"), status: $("status"),
  work: $("work"), taskId: $("task-id"), messages: $("messages"), result: $("result"),
  report: $("report"), error: $("error"), followupText: $("followup-text"),
  followup: $("followup"),
};
const state = { recorder: null, chunks: [], blob: null, started: 0, tick: null,
                task: null, lastSeq: 0, source: null };

ui.key.value = localStorage.getItem("company-api-key") || "";
ui.key.addEventListener("change", () => {
  localStorage.setItem("company-api-key", ui.key.value);
  notebook.follow();
});

function authHeaders() {
  const key = ui.key.value.trim();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function setStatus(text, bad = false) {
  ui.status.textContent = text;
  ui.status.className = bad ? "error" : "";
}

// recording -------------------------------------------------------------------
function pickMime() {
  const options = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];
  if (!window.MediaRecorder) return null;
  return options.find((m) => MediaRecorder.isTypeSupported(m)) || "";
}

function extensionFor(type) {
  if (type.includes("webm")) return "webm";
  if (type.includes("ogg")) return "ogg";
  if (type.includes("mp4")) return "m4a";
  return "audio";
}

async function startRecording() {
  const mime = pickMime();
  if (mime === null || !navigator.mediaDevices) {
    setStatus("This browser cannot record audio here (it needs HTTPS or localhost).", true);
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    setStatus(`No microphone: ${err.message || err}`, true);
    return;
  }
  state.chunks = [];
  state.recorder = new MediaRecorder(stream, mime ? { mimeType: mime } : undefined);
  state.recorder.ondataavailable = (e) => { if (e.data.size) state.chunks.push(e.data); };
  state.recorder.onstop = () => {
    stream.getTracks().forEach((t) => t.stop());
    const type = state.recorder.mimeType || mime || "audio/webm";
    state.blob = new Blob(state.chunks, { type });
    ui.preview.src = URL.createObjectURL(state.blob);
    ui.preview.hidden = false;
    ui.discard.hidden = false;
    ui.record.dataset.state = "recorded";
    setStatus(`Recorded ${ui.timer.textContent}. Add text if you like, then send.`);
  };
  state.recorder.start(250);
  state.started = Date.now();
  state.tick = setInterval(showTime, 250);
  ui.record.setAttribute("aria-pressed", "true");
  ui.record.textContent = "■ Stop";
  ui.record.dataset.state = "recording";
  setStatus("Recording…");
}

function showTime() {
  const s = Math.floor((Date.now() - state.started) / 1000);
  ui.timer.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function stopRecording() {
  clearInterval(state.tick);
  ui.record.setAttribute("aria-pressed", "false");
  ui.record.textContent = "● Record";
  if (state.recorder && state.recorder.state !== "inactive") state.recorder.stop();
}

ui.record.addEventListener("click", () => {
  if (state.recorder && state.recorder.state === "recording") stopRecording();
  else startRecording();
});

ui.discard.addEventListener("click", () => {
  state.blob = null;
  ui.preview.hidden = true;
  ui.preview.removeAttribute("src");
  ui.discard.hidden = true;
  ui.timer.textContent = "0:00";
  ui.record.dataset.state = "";
  setStatus("");
});

// sending -------------------------------------------------------------------
async function errorText(resp) {
  try {
    const body = await resp.json();
    return `${resp.status}: ${body.detail || resp.statusText}`;
  } catch (_) {
    return `${resp.status}: ${resp.statusText}`;
  }
}

async function send() {
  const text = ui.text.value.trim();
  if (!state.blob && !text) { setStatus("Record something or type a request first.", true); return; }
  ui.submit.disabled = true;
  setStatus("Sending…");
  let resp;
  try {
    if (state.blob) {
      const form = new FormData();
      form.append("audio", state.blob, `voice.${extensionFor(state.blob.type)}`);
      if (text) form.append("text", text);
      resp = await fetch("/v1/tasks/voice", { method: "POST", headers: authHeaders(), body: form });
    } else {
      resp = await fetch("/v1/tasks", {
        method: "POST", headers: { ...authHeaders(), "Content-Type": "application/json" },
        body: JSON.stringify({ request: text }),
      });
    }
  } catch (err) {
    ui.submit.disabled = false;
    setStatus(`Could not reach the server: ${err.message || err}`, true);
    return;
  }
  if (resp.status !== 202) {
    ui.submit.disabled = false;
    setStatus(await errorText(resp), true);
    return;
  }
  const accepted = await resp.json();
  state.task = accepted.task_id;
  state.lastSeq = 0;
  ui.messages.replaceChildren();
  ui.result.hidden = true;
  ui.work.hidden = false;
  ui.taskId.textContent = state.task;
  setStatus("Queued…");
  watch();
}

ui.submit.addEventListener("click", send);

// watching --------------------------------------------------------------------
function addItem(who, body, kind = "") {
  const li = document.createElement("li");
  if (kind) li.className = kind;
  const head = document.createElement("div");
  head.className = "who";
  head.textContent = who;
  const text = document.createElement("div");
  text.className = "body";
  text.textContent = body;
  li.append(head, text);
  ui.messages.append(li);
  li.scrollIntoView({ block: "nearest" });
}

function handle(ev) {
  const d = ev.data || {};
  switch (ev.kind) {
    case "task_started": setStatus(d.resumed ? "Resumed…" : "Working…"); break;
    case "round_started": setStatus(`Round ${d.round}: ${(d.roles || []).join(", ")}`); break;
    case "role_started": setStatus(`${d.role} is working…`); break;
    case "message":
      if (d.sent_from !== "Boss") addItem(`${d.sent_from} · ${d.cause_by}`, d.content || "");
      else addItem("You", [d.cause_by === "VoiceRequest" ? "(voice note)" : "", d.content]
        .filter(Boolean).join(" "), "note");
      break;
    case "progress": if (d.message) addItem("note", d.message, "note"); break;
    case "error": addItem(`${d.role || "error"}`, d.error || "error", "error"); break;
    case "notebook": noted(d.notes || []); break;
    case "task_finished": finished(d); break;
    default: break;
  }
}

function finished(d) {
  ui.submit.disabled = false;
  ui.result.hidden = false;
  ui.report.textContent = d.report || "";
  ui.error.hidden = !d.error;
  ui.error.textContent = d.error ? `${d.status}: ${d.error}` : "";
  setStatus(d.status === "done" ? "Done." : `Finished: ${d.status}`, d.status !== "done");
}

function watch() {
  if (state.source) state.source.close();
  const params = new URLSearchParams();
  if (state.lastSeq) params.set("after", String(state.lastSeq));
  const key = ui.key.value.trim();
  if (key) params.set("token", key);
  const query = params.toString();
  const source = new EventSource(`/v1/tasks/${state.task}/events${query ? `?${query}` : ""}`);
  state.source = source;
  source.onmessage = (e) => {
    const ev = JSON.parse(e.data);
    if (ev.seq <= state.lastSeq) return;
    state.lastSeq = ev.seq;
    handle(ev);
  };
  source.addEventListener("end", () => { source.close(); state.source = null; });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      setStatus("The event stream closed; check the API key, then reload.", true);
      ui.submit.disabled = false;
    }
  };
}

ui.followup.addEventListener("click", async () => {
  const text = ui.followupText.value.trim();
  if (!state.task || !text) return;
  ui.followup.disabled = true;
  const resp = await fetch(`/v1/tasks/${state.task}/messages`, {
    method: "POST", headers: { ...authHeaders(), "Content-Type": "application/json" },
    body: JSON.stringify({ text }),
  });
  ui.followup.disabled = false;
  if (resp.status !== 202) { setStatus(await errorText(resp), true); return; }
  ui.followupText.value = "";
  ui.result.hidden = true;
  setStatus("Follow-up queued…");
  watch();
});

// notebook ----------------------------------------------------------------------
// Open items (tick = PATCH status done) and ideas, searchable; kept live by the notebook's
// own event stream (any change, whoever made it) and by the watched task's "notebook" event.
const notebook = {
  items: $("nb-items"), ideas: $("nb-ideas"), search: $("nb-search"),
  itemsCount: $("nb-items-count"), ideasCount: $("nb-ideas-count"),
  itemsEmpty: $("nb-items-empty"), ideasEmpty: $("nb-ideas-empty"),
  status: $("nb-status"), undo: $("nb-undo"),
  source: null, generation: 0, timer: null, lastDone: null, limit: 50,

  say(text, bad = false) {
    this.status.textContent = text;
    this.status.className = bad ? "error" : "";
  },

  async list(path, status) {
    const params = new URLSearchParams({ status, limit: String(this.limit) });
    const q = this.search.value.trim();
    if (q) params.set("q", q.slice(0, 200));
    const resp = await fetch(`${path}?${params}`, { headers: authHeaders() });
    if (!resp.ok) throw new Error(await errorText(resp));
    return resp.json();
  },

  async refresh() {
    const mine = ++this.generation;
    let items, ideas;
    try {
      [items, ideas] = await Promise.all([this.list("/v1/action-items", "open"),
                                          this.list("/v1/ideas", "kept")]);
    } catch (err) {
      if (mine === this.generation) this.say(`Notebook: ${err.message || err}`, true);
      return;
    }
    if (mine !== this.generation) return;  // a newer refresh is under way
    this.show(this.items, this.itemsEmpty, this.itemsCount, items, (n) => this.itemRow(n));
    this.show(this.ideas, this.ideasEmpty, this.ideasCount, ideas, (n) => this.ideaRow(n));
    if (this.status.className === "error") this.say("");
  },

  show(list, empty, count, page, row) {
    // rows that did not change stay the same elements, in place (no jump under a finger,
    // no lost focus); changed ones are rebuilt
    const kept = new Map([...list.children].map((li) => [li.dataset.key, li]));
    const rows = page.items.map((n) => kept.get(`${n.id}@${n.updated_at}`) || row(n));
    rows.forEach((li, i) => {
      if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
    });
    while (list.children.length > rows.length) list.lastElementChild.remove();
    empty.hidden = page.items.length > 0;
    empty.textContent = this.search.value.trim() ? "Nothing matches."
      : (list === this.items ? "Nothing open." : "No ideas yet.");
    count.textContent = page.total > page.items.length
      ? `(${page.items.length} of ${page.total})` : `(${page.total})`;
  },

  describe(n, row) {
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = n.text;
    if (n.tags && n.tags.length) {
      const tags = document.createElement("span");
      tags.className = "tags";
      tags.textContent = " " + n.tags.map((t) => `#${t}`).join(" ");
      text.append(tags);
    }
    const pri = document.createElement("span");
    pri.className = `pri ${n.priority}`;
    pri.textContent = n.priority;
    pri.setAttribute("aria-label", `${n.priority} priority`);
    row.append(text, pri);
  },

  itemRow(n) {
    const li = document.createElement("li");
    li.dataset.id = String(n.id);
    li.dataset.key = `${n.id}@${n.updated_at}`;
    const label = document.createElement("label");
    label.className = "row";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.dataset.id = String(n.id);
    box.addEventListener("change", () => this.tick(n, box, li));
    label.append(box);
    this.describe(n, label);
    li.append(label);
    return li;
  },

  ideaRow(n) {
    const li = document.createElement("li");
    li.dataset.id = String(n.id);
    li.dataset.key = `${n.id}@${n.updated_at}`;
    const row = document.createElement("div");
    row.className = "row";
    this.describe(n, row);
    li.append(row);
    return li;
  },

  async tick(n, box, li) {
    const status = box.checked ? "done" : "open";
    box.disabled = true;
    li.classList.add("busy");
    const ok = await this.patch(n.id, status);
    box.disabled = false;
    li.classList.remove("busy");
    if (!ok) { box.checked = !box.checked; return; }
    this.lastDone = status === "done" ? n : null;
    this.say(status === "done" ? `Done: ${n.text}` : "");
    this.undo.hidden = status !== "done";
    if (status === "done" && document.activeElement === box) this.undo.focus();
    this.refresh();
  },

  async patch(id, status) {
    let resp;
    try {
      resp = await fetch(`/v1/action-items/${id}`, {
        method: "PATCH", headers: { ...authHeaders(), "Content-Type": "application/json" },
        body: JSON.stringify({ status }),
      });
    } catch (err) {
      this.say(`Could not reach the server: ${err.message || err}`, true);
      return false;
    }
    if (!resp.ok) { this.say(await errorText(resp), true); return false; }
    return true;
  },

  follow() {
    if (this.source) this.source.close();
    const key = ui.key.value.trim();
    const query = key ? `?${new URLSearchParams({ token: key })}` : "";
    const source = new EventSource(`/v1/notebook/events${query}`);
    this.source = source;
    source.onmessage = () => this.refresh();  // the first event comes on connecting
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        this.say("Notebook: live updates stopped; check the API key.", true);
      }
    };
  },
};

function noted(notes) {
  const items = notes.filter((n) => n.kind === "item").length;
  const ideas = notes.length - items;
  const parts = [];
  if (items) parts.push(`${items} action item${items === 1 ? "" : "s"}`);
  if (ideas) parts.push(`${ideas} idea${ideas === 1 ? "" : "s"}`);
  if (parts.length) addItem("notebook", `Noted ${parts.join(" and ")}.`, "note");
  notebook.refresh();
}

notebook.search.addEventListener("input", () => {
  clearTimeout(notebook.timer);
  notebook.timer = setTimeout(() => notebook.refresh(), 250);
});
notebook.undo.addEventListener("click", async () => {
  const n = notebook.lastDone;
  notebook.undo.hidden = true;
  if (!n) return;
  notebook.lastDone = null;
  if (await notebook.patch(n.id, "open")) { notebook.say(`Reopened: ${n.text}`); notebook.refresh(); }
});
notebook.refresh();
notebook.follow();

// hands-free ------------------------------------------------------------------------
// A realtime session (WebSocket /v1/realtime): the microphone streams as WebM/Opus chunks
// (MediaRecorder) or, where WebM cannot be recorded, as PCM16 at 16 kHz; the server finds the
// turns, shows the stable partial transcript, runs each turn through the company and speaks the
// answer, which stops as soon as the user talks again (barge-in).
const hf = {
  button: $("handsfree"), state: $("hf-state"), partial: $("hf-partial"),
  roles: $("hf-roles"), answer: $("hf-answer"),
  ws: null, stream: null, recorder: null, capture: null, player: null, nextTime: 0,
  playing: [], spoken: 0,

  say(text) { this.state.textContent = text; },

  async start() {
    if (!navigator.mediaDevices || !window.WebSocket) {
      this.say("This browser cannot stream audio here (it needs HTTPS or localhost).");
      return;
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } });
    } catch (err) {
      this.say(`No microphone: ${err.message || err}`);
      return;
    }
    const webm = window.MediaRecorder && MediaRecorder.isTypeSupported("audio/webm;codecs=opus");
    const params = new URLSearchParams({ format: webm ? "webm" : "pcm16" });
    const key = ui.key.value.trim();
    if (key) params.set("token", key);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/v1/realtime?${params}`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.player = new AudioContext();
    this.button.setAttribute("aria-pressed", "true");
    this.say("Connecting…");
    ws.onopen = () => (webm ? this.recordWebm(ws) : this.recordPcm(ws));
    ws.onmessage = (e) => { if (typeof e.data === "string") this.onEvent(JSON.parse(e.data)); };
    ws.onclose = (e) => {
      this.cleanup();
      this.say(e.code === 1000 ? "Off" : `Closed (${e.code}${e.reason ? `: ${e.reason}` : ""})`);
    };
  },

  recordWebm(ws) {
    const recorder = new MediaRecorder(this.stream, { mimeType: "audio/webm;codecs=opus" });
    let chain = Promise.resolve();  // chunks go out in order
    recorder.ondataavailable = (e) => {
      if (!e.data.size) return;
      chain = chain.then(() => e.data.arrayBuffer())
        .then((buf) => { if (ws.readyState === WebSocket.OPEN) ws.send(buf); });
    };
    recorder.start(250);
    this.recorder = recorder;
  },

  recordPcm(ws) {
    const ctx = new AudioContext({ sampleRate: 16000 });
    const source = ctx.createMediaStreamSource(this.stream);
    const node = ctx.createScriptProcessor(2048, 1, 1);
    node.onaudioprocess = (e) => {
      const f = e.inputBuffer.getChannelData(0);
      const pcm = new Int16Array(f.length);
      for (let i = 0; i < f.length; i++) pcm[i] = Math.max(-1, Math.min(1, f[i])) * 32767;
      if (ws.readyState === WebSocket.OPEN) ws.send(pcm.buffer);
    };
    source.connect(node);
    node.connect(ctx.destination);
    this.capture = ctx;
  },

  stop() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: "session.close" }));
    } else {
      this.cleanup();
      this.say("Off");
    }
  },

  cleanup() {
    if (this.recorder && this.recorder.state !== "inactive") this.recorder.stop();
    if (this.capture) this.capture.close();
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    this.silence();
    this.recorder = null; this.capture = null; this.stream = null; this.ws = null;
    this.button.setAttribute("aria-pressed", "false");
  },

  role(name, busy) {
    let chip = [...this.roles.children].find((li) => li.dataset.role === name);
    if (!chip) {
      chip = document.createElement("li");
      chip.dataset.role = name;
      chip.textContent = name;
      this.roles.append(chip);
    }
    chip.className = busy ? "busy" : "";
  },

  play(ev) {
    const bytes = Uint8Array.from(atob(ev.audio), (c) => c.charCodeAt(0));
    const pcm = new Int16Array(bytes.buffer, 0, bytes.length >> 1);
    if (!pcm.length) return;
    const buffer = this.player.createBuffer(1, pcm.length, ev.sample_rate);
    const channel = buffer.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) channel[i] = pcm[i] / 32768;
    const src = this.player.createBufferSource();
    src.buffer = buffer;
    src.connect(this.player.destination);
    const at = Math.max(this.player.currentTime + 0.05, this.nextTime);
    src.start(at);
    this.nextTime = at + buffer.duration;
    this.playing.push(src);
    src.onended = () => { this.playing = this.playing.filter((s) => s !== src); };
    this.spoken += 1;
    this.button.dataset.spoken = String(this.spoken);
  },

  silence() {
    this.playing.forEach((s) => { try { s.stop(); } catch (_) { /* already ended */ } });
    this.playing = [];
    this.nextTime = 0;
  },

  onEvent(ev) {
    switch (ev.type) {
      case "session.created": this.say("Listening…"); break;
      case "input.speech_started":
        this.silence();  // barge-in: stop at once, the server stops sending
        this.say("Hearing you…");
        this.partial.dataset.final = "false";
        this.partial.textContent = "…";
        break;
      case "transcript.delta": this.partial.textContent = `${ev.text} …`; break;
      case "input.speech_stopped": this.say("Transcribing…"); break;
      case "transcript.done":
        this.partial.dataset.final = "true";
        this.partial.textContent = ev.text;
        break;
      case "task.created":
        state.task = ev.task_id;
        state.lastSeq = 0;
        ui.messages.replaceChildren();
        ui.taskId.textContent = ev.task_id;
        ui.work.hidden = false;
        ui.result.hidden = true;
        break;
      case "task.followed_up": ui.result.hidden = true; break;
      case "response.created": this.say("Working…"); this.answer.hidden = true; break;
      case "task.event":
        if (ev.seq <= state.lastSeq) break;
        state.lastSeq = ev.seq;
        if (ev.kind === "role_started") this.role(ev.data.role, true);
        if (ev.kind === "role_finished") this.role(ev.data.role, false);
        handle(ev);
        break;
      case "response.done":
        this.answer.textContent = ev.answer || ev.error || "";
        this.answer.hidden = !this.answer.textContent;
        this.say(ev.status === "done" ? "Answering…" : `Finished: ${ev.status}`);
        break;
      case "response.audio.delta": this.play(ev); this.say("Speaking…"); break;
      case "response.audio.done": this.say("Listening…"); break;
      case "response.audio.cancelled": this.silence(); break;
      case "error": setStatus(`Hands-free: ${ev.error.message}`, true); break;
      case "session.ended": this.say(`Ended: ${ev.reason}`); break;
      default: break;
    }
  },
};

hf.button.addEventListener("click", () => (hf.ws ? hf.stop() : hf.start()));
