// The emulator's page: shows every line's conversations and plays the other side.
// Data never becomes markup: every text goes through textContent or an attribute value
// (a message holding "<script>" is shown as text). The server's views and actions are
// described in spectrum_sync/emulator/ui_routes.py.
"use strict";

const TAPBACKS = ["❤️", "👍", "👎", "😂", "‼️", "❓"];
const state = {
  overview: null,      // GET api/overview
  conversation: null,  // GET api/chat for the selected chat
  line: null,          // selected line (instance id)
  chat: null,          // selected chat guid
  replyTo: null,       // {guid, text} while composing a reply
  editing: null,       // guid of their message being edited
  typing: false,       // whether the page shows "typing" for the acting address
  refreshing: false,
  again: false,
  shown: {lines: "", conversation: ""},  // what is on screen, to redraw only on a change
};

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else if (key === "onclick") node.addEventListener("click", value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// ----- server calls -------------------------------------------------------------------------

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  };
  const response = await fetch("api/" + path, {credentials: "same-origin", ...init});
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.message || `${response.status} ${response.statusText}`);
  return data;
}

async function act(action, body) {
  try {
    const answer = await api(action, {line: state.line, ...body});
    refresh();
    return answer;
  } catch (error) {
    toast(`${action}: ${error.message}`);
    return null;
  }
}

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 5000);
}

// Coalesces refreshes: one fetch at a time, and one more if a change came meanwhile.
async function refresh() {
  if (state.refreshing) { state.again = true; return; }
  state.refreshing = true;
  try {
    do {
      state.again = false;
      state.overview = await api("overview");
      if (state.line && state.chat) {
        const query = new URLSearchParams({line: state.line, chat: state.chat});
        try {
          state.conversation = await api("chat?" + query);
        } catch (error) {
          state.conversation = null;  // e.g. the emulator was reset
        }
      }
      render();
    } while (state.again);
  } catch (error) {
    setLive(false);
  } finally {
    state.refreshing = false;
  }
}

// ----- live updates -------------------------------------------------------------------------

function setLive(on) {
  const badge = $("live");
  badge.className = "live " + (on ? "on" : "off");
  badge.textContent = on ? "live" : "reconnecting…";
}

function connect() {
  const events = new EventSource("api/events");
  events.addEventListener("change", refresh);
  events.onopen = () => { setLive(true); refresh(); };
  events.onerror = () => {
    setLive(false);
    // The browser retries by itself unless the answer was not an event stream.
    if (events.readyState === EventSource.CLOSED) setTimeout(connect, 1000);
  };
}

// ----- rendering ----------------------------------------------------------------------------

function render() {
  const view = state.overview;
  if (!view) return;
  $("plan").textContent = `${view.plan} plan · project ${view.project_id}`;
  $("streams").textContent = `${view.open_streams} open stream(s)`;
  renderLines(view);
  renderEffects(view.effects);
  renderConversation();
}

function renderLines(view) {
  const shown = JSON.stringify([view.lines, view.limits, state.line, state.chat]);
  if (shown === state.shown.lines) return;
  state.shown.lines = shown;
  const box = $("lines");
  box.replaceChildren();
  const select = $("new-line");
  const chosen = select.value;
  select.replaceChildren();
  for (const line of view.lines) {
    select.append(el("option", {value: line.id, text: line.name}));
    const quota = line.quota;
    const share = Math.min(100, 100 * quota.messages / view.limits.messages);
    const section = el("div", {className: "line", dataset: {line: line.id}},
      el("h2", {text: `Line ${line.name}`}),
      el("div", {className: "quota muted"},
        el("div", {text: `${quota.messages}/${view.limits.messages} messages · ` +
          `${quota.new_conversations}/${view.limits.new_conversations} new conversations today`}),
        barOf(share)));
    if (!line.chats.length) section.append(el("div", {className: "muted quota", text: "no chats yet"}));
    for (const chat of line.chats) {
      const selected = line.id === state.line && chat.guid === state.chat;
      section.append(el("button", {
        type: "button", className: "chat-item" + (selected ? " selected" : ""),
        dataset: {chat: chat.guid}, onclick: () => selectChat(line.id, chat.guid),
      },
        el("div", {className: "title"},
          el("span", {text: chat.title}),
          chat.typing ? el("span", {className: "dots", text: "•••"}) : null,
          chat.unread ? el("span", {className: "badge", text: String(chat.unread)}) : null),
        el("div", {className: "preview", text: chat.last || " "})));
    }
    box.append(section);
  }
  if (chosen) select.value = chosen;
}

function barOf(percent) {
  const fill = el("span");
  fill.style.width = `${percent}%`;
  return el("div", {className: "bar"}, fill);
}

function renderEffects(effects) {
  const select = $("effect");
  if (select.options.length > 1) return;
  for (const name of effects) select.append(el("option", {value: name, text: name}));
}

function selectChat(line, chat) {
  if (state.typing) setTyping(false);
  state.line = line;
  state.chat = chat;
  state.conversation = null;
  state.replyTo = state.editing = null;
  $("from").value = "";
  history.replaceState(null, "", "#" + new URLSearchParams({line, chat}));
  updateBanner();
  refresh();
}

function renderConversation() {
  const conv = state.conversation;
  // Redrawn only when it changed: a redraw replaces the nodes under the pointer.
  const shown = JSON.stringify([conv, $("from").value]);
  if (shown === state.shown.conversation) return;
  state.shown.conversation = shown;
  const section = $("conversation");
  const timeline = $("timeline");
  if (!conv) {
    section.classList.add("empty");
    $("chat-title").textContent = "No conversation selected";
    $("chat-participants").textContent = "";
    timeline.replaceChildren();
    return;
  }
  section.classList.remove("empty");
  $("chat-title").textContent = conv.chat.title;
  $("chat-participants").textContent =
    `${conv.chat.is_group ? "group" : "direct"} · ${conv.chat.guid} · on line ${conv.line}` +
    (conv.chat.participants.length ? ` · with ${conv.chat.participants.join(", ")}` : "");
  const list = $("participants");
  list.replaceChildren(...conv.chat.participants.map((p) => el("option", {value: p})));
  if (!$("from").value && conv.chat.participants.length) $("from").value = conv.chat.participants[0];

  const stick = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 40;
  const nodes = [];
  const lastMine = [...conv.items].reverse().find((i) => i.kind === "message" && i.from_me);
  for (const item of conv.items) {
    if (item.kind === "event") nodes.push(el("div", {className: "event", text: item.text}));
    else if (item.kind === "poll") nodes.push(renderPollItem(item));
    else nodes.push(renderMessage(item, conv, item === lastMine));
  }
  if (conv.typing.them) nodes.push(typingRow("them"));
  if (conv.typing.us) nodes.push(typingRow("us"));
  timeline.replaceChildren(...nodes);
  if (stick) timeline.scrollTop = timeline.scrollHeight;
}

function typingRow(side) {
  return el("div", {className: `typing-row ${side}`, dataset: {typing: side}},
    el("div", {className: "typing-bubble", title: side === "us" ? "the line is typing" : "typing"},
      el("i"), el("i"), el("i")));
}

function renderMessage(msg, conv, isLastMine) {
  const side = msg.from_me ? "from-me" : "from-them";
  const box = el("div", {className: `msg ${side}`, dataset: {guid: msg.guid}});
  if (!msg.from_me && conv.chat.is_group && msg.sender) {
    box.append(el("div", {className: "sender", text: msg.sender}));
  }
  if (msg.reply_to) {
    box.append(el("div", {className: "reply-quote", dataset: {replyTo: msg.reply_to.guid},
      text: `↪ ${msg.reply_to.from_me ? "you" : (msg.reply_to.sender || "them")}: ${msg.reply_to.text}`}));
  }
  const bubble = el("div", {className: "bubble"});
  if (msg.unsent) {
    bubble.classList.add("unsent");
    bubble.textContent = msg.from_me ? "You unsent a message" : `${msg.sender || "They"} unsent a message`;
  } else {
    if (msg.subject) bubble.append(el("span", {className: "subject", text: msg.subject}));
    for (const file of msg.attachments) bubble.append(renderAttachment(file));
    if (msg.poll) bubble.append(renderPoll(msg.poll));
    else if (msg.text) bubble.append(el("span", {className: "text"}, ...formatted(msg)));
  }
  box.append(bubble);
  if (msg.reactions.length) {
    box.append(el("div", {className: "reactions"}, ...msg.reactions.map((r) =>
      el("span", {title: r.from_me ? "you" : (r.sender || ""), text: r.emoji}))));
  }
  if (msg.effect) box.append(el("div", {className: "effect-name", text: `Sent with ${msg.effect}`}));
  const meta = [];
  if (msg.edited && !msg.unsent) meta.push(el("span", {className: "edited", text: "Edited"}));
  if (isLastMine) meta.push(el("span", {className: "receipt", text: msg.read ? "Read" : (msg.delivered ? "Delivered" : "Sent")}));
  if (meta.length) box.append(el("div", {className: "meta"}, ...meta));
  if (!msg.unsent) box.append(renderActions(msg));
  return box;
}

// Splits the text at every range boundary; each piece carries the classes of its ranges.
// Offsets are UTF-16 code units, the same as JavaScript string indices.
function formatted(msg) {
  const text = msg.text;
  const ranges = [
    ...msg.formatting.map((f) => ({start: f.start, end: f.start + f.length,
      classes: f.type === "effect" ? ["fmt-effect", `fmt-effect-${f.effect || "none"}`] : [`fmt-${f.type}`]})),
    ...msg.mentions.map((m) => ({start: m.start, end: m.start + m.length, classes: ["mention"]})),
  ];
  const cuts = new Set([0, text.length]);
  for (const r of ranges) {
    cuts.add(Math.max(0, Math.min(text.length, r.start)));
    cuts.add(Math.max(0, Math.min(text.length, r.end)));
  }
  const points = [...cuts].sort((a, b) => a - b);
  const pieces = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const [from, to] = [points[i], points[i + 1]];
    const classes = ranges.filter((r) => r.start <= from && r.end >= to).flatMap((r) => r.classes);
    const piece = text.slice(from, to);
    pieces.push(classes.length ? el("span", {className: classes.join(" "), text: piece}) : piece);
  }
  return pieces;
}

function attachmentUrl(guid) {
  return "api/attachment?" + new URLSearchParams({line: state.line, guid});
}

function renderAttachment(file) {
  if (!file.stored) return el("span", {className: "file", text: `📎 ${file.name} (not stored)`});
  if (file.image) return el("img", {src: attachmentUrl(file.guid), alt: file.name, title: file.name});
  return el("a", {className: "file", href: attachmentUrl(file.guid), download: file.name,
    text: `📎 ${file.name} (${sizeOf(file.size)})`});
}

function sizeOf(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function renderPollItem(item) {
  const box = el("div", {className: "msg from-them"});
  if (item.sender) box.append(el("div", {className: "sender", text: item.sender}));
  box.append(el("div", {className: "bubble"}, renderPoll(item.poll)));
  return box;
}

function renderPoll(poll) {
  const box = el("div", {className: "poll", dataset: {poll: poll.guid}},
    el("div", {className: "poll-title", text: `📊 ${poll.title}`}));
  for (const option of poll.options) {
    box.append(el("button", {type: "button", dataset: {option: option.id},
      title: "Vote for this option as the address in the As field",
      onclick: () => act("vote", {from: actingAs(), poll: poll.guid, option: option.id}),
    },
      el("span", {text: option.text}),
      el("span", {className: "voters", text: option.voters.length ?
        `${option.voters.length} · ${option.voters.join(", ")}` : "0"})));
  }
  return box;
}

function renderActions(msg) {
  const bar = el("div", {className: "actions"});
  for (const emoji of TAPBACKS) {
    const mine = msg.reactions.some((r) => !r.from_me && r.sender === actingAs() && r.emoji === emoji);
    bar.append(el("button", {type: "button", className: mine ? "on" : "", dataset: {react: emoji},
      title: mine ? "Remove this tapback" : "Tapback as the address in the As field",
      text: emoji,
      onclick: () => act("react", {from: actingAs(), message: msg.guid, reaction: emoji, remove: mine}),
    }));
  }
  bar.append(el("button", {type: "button", dataset: {action: "reply"}, text: "Reply",
    onclick: () => { state.replyTo = {guid: msg.guid, text: msg.text}; state.editing = null; updateBanner(); }}));
  if (!msg.from_me) {
    bar.append(el("button", {type: "button", dataset: {action: "edit"}, text: "Edit",
      onclick: () => {
        state.editing = msg.guid; state.replyTo = null;
        $("text").value = msg.text; updateBanner(); $("text").focus();
      }}));
    bar.append(el("button", {type: "button", dataset: {action: "unsend"}, text: "Unsend",
      onclick: () => act("unsend", {message: msg.guid})}));
  }
  return bar;
}

function updateBanner() {
  const banner = $("composer-banner");
  let text = "";
  if (state.editing) text = "Editing their message";
  else if (state.replyTo) text = `Replying to: ${state.replyTo.text || "a message"}`;
  banner.hidden = !text;
  $("composer-banner-text").textContent = text;
}

function actingAs() {
  return $("from").value.trim();
}

// ----- acting as the other side -------------------------------------------------------------

function fileAsBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function sendFromComposer(event) {
  event.preventDefault();
  if (!state.conversation) return;
  const text = $("text").value;
  if (state.editing) {
    const done = await act("edit", {message: state.editing, text});
    if (done) { state.editing = null; $("text").value = ""; updateBanner(); }
    return;
  }
  const file = $("file").files[0];
  if (!text && !file) return;
  const body = {from: actingAs(), text, effect: $("effect").value || null,
    reply_to: state.replyTo ? state.replyTo.guid : null};
  if (state.conversation.chat.is_group) body.chat = state.conversation.chat.guid;
  if (file) body.attachment = {name: file.name, base64: await fileAsBase64(file)};
  const sent = await act("send", body);
  if (sent) {
    $("text").value = "";
    $("file").value = "";
    $("file-name").textContent = "";
    state.replyTo = null;
    updateBanner();
    if (state.typing) setTyping(false);
    // Written as another address in a direct chat: that address's own chat got it.
    if (sent.chat !== state.chat) selectChat(state.line, sent.chat);
  }
}

async function setTyping(on) {
  if (!state.conversation) return;
  state.typing = on;
  $("typing").classList.toggle("on", on);
  await act("typing", {from: actingAs(), chat: state.conversation.chat.guid, typing: on});
}

async function newChat(event) {
  event.preventDefault();
  const line = $("new-line").value;
  const body = {line, from: $("new-from").value.trim(), text: $("new-text").value,
    chat: $("new-group").value.trim() || null};
  try {
    const sent = await api("send", body);
    $("new-text").value = "";
    selectChat(line, sent.chat);
  } catch (error) {
    toast(`send: ${error.message}`);
  }
}

function restoreSelection() {
  const saved = new URLSearchParams(location.hash.slice(1));
  if (saved.get("line") && saved.get("chat")) {
    state.line = saved.get("line");
    state.chat = saved.get("chat");
  }
}

function init() {
  // A token in the address has been turned into a cookie by the server: drop it from view.
  if (new URLSearchParams(location.search).has("token")) {
    history.replaceState(null, "", location.pathname + location.hash);
  }
  restoreSelection();
  $("composer").addEventListener("submit", sendFromComposer);
  $("new-chat").addEventListener("submit", newChat);
  $("composer-cancel").addEventListener("click", () => {
    state.replyTo = state.editing = null; $("text").value = ""; updateBanner();
  });
  $("typing").addEventListener("click", () => setTyping(!state.typing));
  $("mark-read").addEventListener("click", () =>
    act("read", {chat: state.conversation.chat.guid, from: actingAs()}));
  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    $("file-name").textContent = file ? `${file.name} (${sizeOf(file.size)})` : "";
  });
  for (const button of document.querySelectorAll("[data-fault]")) {
    button.addEventListener("click", async () => {
      const done = await act("fault", {kind: button.dataset.fault});
      if (done) toast(`${button.textContent}: done`);
    });
  }
  connect();
  refresh();
}

document.addEventListener("DOMContentLoaded", init);
