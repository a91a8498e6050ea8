// Drives a running spectrum_sync emulator with the official TypeScript SDK
// (@photon-ai/advanced-imessage) and asserts what the SDK gets back.
//
// Input (environment): SPECTRUM_CLOUD_URL, SPECTRUM_PROJECT_ID, SPECTRUM_PROJECT_SECRET,
// SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE, INTEROP_LINE (the line's number), INTEROP_PEER (an address),
// INTEROP_OTHER and INTEROP_THIRD (two more addresses, for a group).
// Output: one JSON object on stdout describing what happened, for the Python side to check
// against what the emulator recorded. Exit code 0 only when every assertion held.

import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import {
  ConnectionError,
  createGrpcClient,
  IMessageError,
  NotFoundError,
  ValidationError,
} from "@photon-ai/advanced-imessage";

const env = process.env;
const cloud = env.SPECTRUM_CLOUD_URL;
const peer = env.INTEROP_PEER;
const line = env.INTEROP_LINE;
const other = env.INTEROP_OTHER;
const third = env.INTEROP_THIRD;

async function postJson(url, body, headers = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const admin = async (path, body) => {
  const { status, body: out } = await postJson(`${cloud}/_emulator/${path}`, body);
  assert.equal(status, 200, `admin ${path}: ${JSON.stringify(out)}`);
  return out;
};

// Spectrum Cloud's token exchange, as the official SDKs perform it.
async function exchangeTokens() {
  const basic = Buffer.from(`${env.SPECTRUM_PROJECT_ID}:${env.SPECTRUM_PROJECT_SECRET}`).toString("base64");
  const url = `${cloud}/projects/${env.SPECTRUM_PROJECT_ID}/imessage/tokens`;
  const wrong = await postJson(url, undefined, { Authorization: "Basic " + Buffer.from("x:y").toString("base64") });
  assert.equal(wrong.status, 401);
  assert.equal(typeof wrong.body.code, "string");
  const { status, body } = await postJson(url, undefined, { Authorization: `Basic ${basic}` });
  assert.equal(status, 200);
  assert.equal(body.succeed, true);
  return body.data;
}

// Collects events of a live stream in the background until `done(events)` holds.
function collect(stream, done, timeoutMs = 15000) {
  const events = [];
  const finished = (async () => {
    for await (const event of stream) {
      events.push(event);
      if (done(events)) break;
    }
    return events;
  })();
  const timer = sleep(timeoutMs).then(() => {
    throw new Error(`stream: timed out with ${events.length} events`);
  });
  return { events, finished: Promise.race([finished, timer]) };
}

async function expectError(promise, cls, code) {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof cls, `expected ${cls.name}, got ${error?.constructor?.name}: ${error}`);
    assert.equal(error.code, code);
    return { name: error.constructor.name, code: error.code, retryable: error.retryable };
  }
  assert.fail(`expected ${cls.name} ${code}`);
}

async function main() {
  const out = {};
  const data = await exchangeTokens();
  assert.equal(data.type, "dedicated");
  assert.ok(data.expiresIn > 0);
  const instanceId = Object.keys(data.numbers).find((id) => data.numbers[id] === line);
  assert.ok(instanceId, `line ${line} not in ${JSON.stringify(data.numbers)}`);
  out.instanceId = instanceId;
  out.token = data.auth[instanceId];

  const im = createGrpcClient({
    address: env.SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE.replace("{instanceId}", instanceId),
    token: out.token,
    tls: false,
    autoIdempotency: true,
    retry: { maxAttempts: 3, initialDelay: 10, maxDelay: 50 },
    timeout: 10000,
  });
  try {
    // Addresses
    const info = await im.addresses.get(peer);
    assert.equal(info.address, peer);
    assert.ok(info.services.includes("iMessage"), JSON.stringify(info));
    out.available = await im.addresses.isIMessageAvailable(peer);
    assert.equal(out.available, true);

    // Chats
    const created = await im.chats.create([peer]);
    const chat = created.chat.guid;
    assert.match(chat, /^[^;]+;-;/);
    assert.equal(created.chat.isGroup, false);
    const fetched = await im.chats.get(chat);
    assert.equal(fetched.guid, chat);
    assert.ok(fetched.participants.some((p) => p.address === peer));
    out.chat = chat;

    // Live subscription: our own sends are echoed (isFromMe), then inbound messages arrive.
    const live = collect(im.messages.subscribeEvents(), (events) =>
      events.filter((e) => e.type === "message.received" && !e.isFromMe).length >= 2,
    );
    let probe;
    for (let attempt = 0; attempt < 50; attempt++) {
      probe = await im.messages.sendText(chat, `probe ${attempt}`);
      await sleep(100);
      if (live.events.some((e) => e.type === "message.received" && e.isFromMe)) break;
    }
    const echo = live.events.find((e) => e.type === "message.received" && e.isFromMe);
    assert.ok(echo, "own send was not echoed on the live stream");
    assert.ok(echo.sequence > 0);
    out.inbound = [
      (await admin("inbound", { from: peer, text: "inbound one", line })).guid,
      (await admin("inbound", { from: peer, text: "inbound two", line })).guid,
    ];
    const events = await live.finished;
    const inbound = events.filter((e) => e.type === "message.received" && !e.isFromMe);
    assert.deepEqual(inbound.map((e) => e.message.text ?? e.message.content?.text), ["inbound one", "inbound two"]);
    assert.deepEqual(inbound.map((e) => e.message.guid), out.inbound);
    assert.equal(inbound[0].message.sender.address, peer);
    assert.equal(inbound[0].chatGuid, chat);
    const sequences = events.map((e) => e.sequence);
    assert.deepEqual([...sequences].sort((a, b) => a - b), sequences, "live sequences not increasing");
    out.liveSequences = sequences;
    out.catchUpFrom = echo.sequence;

    // Sending: formatting, subject, effect, client message id (idempotent), reply.
    const sendOptions = {
      subject: "Greeting",
      effect: "com.apple.messages.effect.CKConfettiEffect",
      formatting: [{ type: "bold", start: 0, length: 5 }],
      clientMessageId: "interop-cmid-1",
    };
    const sent = await im.messages.sendText(chat, "Hello interop", sendOptions);
    assert.ok(sent.guid);
    assert.equal(sent.isFromMe, true);
    // A repeated clientMessageId: the service answers duplicateMessage (the original went
    // through), as the SDK's README says; nothing new is sent.
    out.duplicate = await expectError(
      im.messages.sendText(chat, "Hello interop", sendOptions), IMessageError, "duplicateMessage",
    );
    out.sent = sent.guid;
    const reply = await im.messages.sendText(chat, "a threaded reply", { replyTo: out.inbound[0] });
    assert.equal(reply.replyTargetGuid ?? reply.threadOriginatorGuid, out.inbound[0]);
    out.reply = reply.guid;

    // A retryable fault arrives as a typed, retryable error; resending with the same
    // clientMessageId then yields exactly one message. (The SDK's own retry middleware does
    // not see trailers in 2.2.0, so the driver retries by hand.)
    await admin("fail-next", { count: 1, code: "UNAVAILABLE", retryable: true, method: "SendTextMessage" });
    const faultOptions = { clientMessageId: "interop-cmid-fault" };
    out.fault = await expectError(
      im.messages.sendText(chat, "after a fault", faultOptions), ConnectionError, "serviceUnavailable",
    );
    assert.equal(out.fault.retryable, true);
    const retried = await im.messages.sendText(chat, "after a fault", faultOptions);
    out.retried = retried.guid;

    // Reactions: LOVE is kind 0 (absent on the wire), an emoji, and a removal.
    await im.messages.setReaction(chat, out.inbound[0], { kind: "love" }, true);
    await im.messages.setReaction(chat, out.inbound[0], { kind: "emoji", emoji: "🎉" }, true);
    await im.messages.setReaction(chat, out.inbound[0], { kind: "love" }, false);

    // Edit, unsend, typing.
    const edited = await im.messages.edit(chat, sent.guid, "Hello interop!");
    assert.equal(edited.guid, sent.guid);
    assert.equal(edited.content?.text ?? edited.text, "Hello interop!");
    await im.messages.unsend(chat, reply.guid);
    await im.chats.setTyping(chat, true);
    await im.chats.setTyping(chat, false);

    // Catch up from the echo's sequence: everything after it, in order, then `complete`.
    const replayed = [];
    for await (const event of im.events.catchUp(out.catchUpFrom)) {
      replayed.push(event);
      if (event.type === "catchup.complete") break;
    }
    const complete = replayed.at(-1);
    assert.equal(complete.type, "catchup.complete");
    const body = replayed.slice(0, -1);
    const seqs = body.map((e) => e.sequence);
    assert.ok(seqs.every((s, i) => s > out.catchUpFrom && (i === 0 || s > seqs[i - 1])), `bad order ${seqs}`);
    assert.ok(complete.headSequence >= seqs.at(-1));
    const types = new Set(body.map((e) => e.type));
    for (const t of ["message.received", "message.edited", "message.unsent", "message.reactionAdded", "message.reactionRemoved"]) {
      assert.ok(types.has(t), `catch-up lacks ${t}: ${[...types]}`);
    }
    const replayedGuids = body.filter((e) => e.type === "message.received").map((e) => e.message.guid);
    for (const guid of [...out.inbound, out.sent, out.reply, out.retried]) {
      assert.ok(replayedGuids.includes(guid), `catch-up lacks message ${guid}`);
    }
    for (const guid of [out.sent, out.retried]) {
      assert.equal(body.filter((e) => e.type === "message.received" && e.message.guid === guid).length, 1);
    }
    out.headSequence = complete.headSequence;
    out.catchUpTypes = [...types].sort();

    // Errors arrive as the SDK's typed errors, decoded from our trailers.
    out.errors = {
      unknownChat: await expectError(im.chats.get(`any;-;+15550009999`), NotFoundError, "chatNotFound"),
      badAddress: await expectError(im.addresses.get("not an address"), ValidationError, "invalidArgument"),
    };
    out.probe = probe.guid;

    out.rich = await rich(im, chat);
  } finally {
    await im.close();
  }
  delete out.token;
  process.stdout.write(JSON.stringify(out) + "\n");
}

// Rich messaging: attachments, multipart, history, groups, polls, lookups.
async function rich(im, chat) {
  const r = {};

  // Attachments: a single-shot upload, its metadata, a chunked download, a voice send.
  const bytes = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) % 251);
  const uploaded = await im.attachments.upload({ fileName: "blob.bin", data: bytes });
  assert.equal(uploaded.attachment.totalBytes, bytes.length);
  assert.equal(uploaded.attachment.fileName, "blob.bin");
  const info = await im.attachments.get(uploaded.attachment.guid);
  assert.equal(info.transferState, "finished");
  const chunks = [];
  let header;
  for await (const frame of im.attachments.downloadStream(uploaded.attachment.guid)) {
    if (frame.type === "header") header = frame.info;
    if (frame.type === "primaryChunk") chunks.push(Buffer.from(frame.data));
  }
  assert.equal(header.guid, uploaded.attachment.guid);
  assert.ok(chunks.length > 1, "the download came in one chunk");
  assert.ok(Buffer.concat(chunks).equals(Buffer.from(bytes)), "downloaded bytes differ");
  const voice = await im.messages.sendAttachment(chat, uploaded.attachment.guid, {
    isAudioMessage: true,
    effect: "com.apple.MobileSMS.expressivesend.gentle",
  });
  assert.equal(voice.isAudioMessage, true);
  assert.equal(voice.content.attachments[0].guid, uploaded.attachment.guid);
  assert.equal(voice.content.expressiveSendStyleId, "com.apple.MobileSMS.expressivesend.gentle");
  r.upload = uploaded.attachment.guid;
  r.voice = voice.guid;

  // Multipart: formatted text, a mention and a file in one message.
  const multi = await im.messages.sendMultipart(chat, [
    { text: "hi ", formatting: [{ type: "bold", start: 0, length: 2 }] },
    { text: "@Peer", mentionedAddress: peer },
    { attachmentGuid: uploaded.attachment.guid, attachmentName: "renamed.bin" },
  ], { subject: "Parts" });
  assert.equal(multi.content.text, "hi @Peer");
  assert.deepEqual(multi.content.mentions.map((m) => [m.address, m.start, m.length]), [[peer, 3, 5]]);
  assert.deepEqual(multi.content.formatting.map((f) => [f.type, f.start, f.length]), [["bold", 0, 2]]);
  assert.equal(multi.content.attachments[0].fileName, "renamed.bin");
  assert.equal(multi.subject, "Parts");
  r.multipart = multi.guid;

  // History: chat pages (newest first), recent messages, one message by guid.
  const page1 = await im.messages.listInChat(chat, { pageSize: 2 });
  assert.deepEqual(page1.messages.map((m) => m.guid), [multi.guid, voice.guid]);
  assert.ok(page1.nextPageToken);
  const page2 = await im.messages.listInChat(chat, { pageSize: 2, pageToken: page1.nextPageToken });
  assert.equal(page2.messages.length, 2);
  assert.ok(!page2.messages.some((m) => [multi.guid, voice.guid].includes(m.guid)));
  const recent = await im.messages.listRecent({ pageSize: 1 });
  assert.deepEqual(recent.messages.map((m) => m.guid), [multi.guid]);
  assert.equal((await im.messages.get(voice.guid)).guid, voice.guid);
  r.pageToken = page1.nextPageToken;
  r.badPageSize = await expectError(im.messages.listInChat(chat, { pageSize: 101 }), ValidationError, "invalidArgument");

  // Groups: name, members, icon round trip, leaving; a DM is no group.
  const group = (await im.chats.create([peer, other])).chat;
  assert.equal(group.isGroup, true);
  assert.equal((await im.groups.setDisplayName(group.guid, "Interop")).displayName, "Interop");
  const added = await im.groups.addParticipants(group.guid, [third]);
  assert.ok(added.participants.some((p) => p.address === third));
  const removed = await im.groups.removeParticipants(group.guid, [other]);
  assert.ok(!removed.participants.some((p) => p.address === other));
  r.noIcon = await expectError(im.groups.getIcon(group.guid), NotFoundError, "groupIconNotFound");
  const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
  await im.groups.setIcon(group.guid, png);
  const icon = await im.groups.getIcon(group.guid);
  assert.equal(icon.mimeType, "image/png");
  assert.ok(Buffer.from(icon.data).equals(Buffer.from(png)));
  await im.groups.removeIcon(group.guid);
  await im.groups.leave(group.guid);
  r.group = group.guid;
  r.dmRename = await expectError(im.groups.setDisplayName(chat, "no"), ValidationError, "operationNotSupported");

  // Polls: create, vote (who voted for what), unvote, add an option, get.
  const poll = await im.polls.create(chat, "Lunch?", ["Sushi", "Pizza"]);
  assert.deepEqual(poll.options.map((o) => o.text), ["Sushi", "Pizza"]);
  const pizza = poll.options.find((o) => o.text === "Pizza").optionIdentifier;
  const voted = await im.polls.vote(poll.pollMessageGuid, pizza);
  assert.deepEqual(voted.votes.map((v) => [v.participant.address, v.optionIdentifier]), [[line, pizza]]);
  assert.equal((await im.polls.unvote(poll.pollMessageGuid)).votes.length, 0);
  const grown = await im.polls.addOption(poll.pollMessageGuid, "Tacos");
  assert.deepEqual(grown.options.map((o) => o.text), ["Sushi", "Pizza", "Tacos"]);
  assert.equal((await im.polls.get(poll.pollMessageGuid)).title, "Lunch?");
  r.poll = poll.pollMessageGuid;
  r.pizza = pizza;

  // Lookups and the contact card.
  r.focus = await im.addresses.isFocusSilenced(peer);
  await im.chats.shareContactInfo(chat);
  r.protocol = await protocol(im, chat, multi.guid, uploaded.attachment.guid);
  return r;
}

// The rest of the protocol: backgrounds, chat count, stickers, notify anyway, part-indexed
// reactions and mini-app cards.
async function protocol(im, chat, multipart, attachment) {
  const p = {};
  assert.equal(await im.chats.hasBackground(chat), false);
  await im.chats.setBackground(chat, Uint8Array.from([0xff, 0xd8, 0xff, 1, 2, 3]));
  assert.equal(await im.chats.hasBackground(chat), true);
  await im.chats.removeBackground(chat);
  assert.equal(await im.chats.hasBackground(chat), false);
  p.count = await im.chats.count();
  p.countArchived = await im.chats.count({ includeArchived: true });
  const sticker = await im.messages.placeSticker(chat, multipart, attachment, { x: 0.25, y: 0.75, scale: 2 }, { partIndex: 0 });
  p.stickerRow = sticker.guid;
  await im.messages.notifySilenced(chat, multipart);
  await im.messages.setReaction(chat, multipart, { kind: "like" }, true, { partIndex: 2 });
  const card = await im.messages.sendCustomizedMiniApp(chat, {
    appName: "Pizza", teamId: "ABCDE12345", extensionBundleId: "com.example.pizza.ext",
    url: "https://pizza.example/o/42", layout: { caption: "Order #42", subcaption: "In the oven" },
  });
  assert.ok(card.miniAppCardSession.sessionId);
  assert.equal(card.miniAppCardSession.targetMessageGuid, card.guid);
  const updated = await im.messages.updateCustomizedMiniApp(card.miniAppCardSession, {
    appName: "Pizza", teamId: "ABCDE12345", extensionBundleId: "com.example.pizza.ext",
    url: "https://pizza.example/o/42", layout: { caption: "Order #42", subcaption: "On its way" },
  });
  assert.equal(updated.miniAppCardSession.sessionId, card.miniAppCardSession.sessionId);
  assert.equal(updated.miniAppCardSession.targetMessageGuid, card.guid);
  p.card = card.guid;
  p.session = card.miniAppCardSession.sessionId;
  return p;
}

main().catch((error) => {
  console.error(error?.stack ?? String(error));
  process.exit(1);
});
