// The official spectrum-ts (12.8.0) goes through the twin test's user actions against one
// emulator; test_twin.py makes spectrum_sync do the same against another and compares what
// the two emulators recorded.
//
// Input (environment): TWIN_ADDRESS (host:port of the TLS gRPC server), TWIN_TOKEN (the
// line's bearer token), TWIN_LINE (its number), TWIN_PEER and TWIN_OTHER (two addresses),
// TWIN_ADMIN (the emulator's HTTP base URL, to make the peer write). NODE_EXTRA_CA_CERTS
// trusts the emulator's certificate. Output: one JSON line of the ids the actions produced.

import { Spectrum, typing } from "@spectrum-ts/core";
import { effect, imessage } from "@spectrum-ts/imessage";

const env = process.env;
const phone = env.TWIN_LINE;
const step = async (name, action) => {
  try {
    return await action();
  } catch (error) {
    throw new Error(`step ${name}: ${error?.stack ?? error}`);
  }
};

const app = await Spectrum({
  providers: [imessage.config({ clients: [{ address: env.TWIN_ADDRESS, token: env.TWIN_TOKEN, phone }] })],
  telemetry: false,
});
const im = imessage(app);
const out = {};

const alice = await step("user", () => im.user(env.TWIN_PEER));
const bob = await step("user 2", () => im.user(env.TWIN_OTHER));
const dm = await step("dm", () => im.space.create([alice], { phone }));
const group = await step("group", () => im.space.create([alice, bob], { phone }));
out.dm = dm.id;
out.group = group.id;
const sent = await step("send", () => dm.send("Hello twin"));
await step("effect", () => dm.send(effect("Boom", "com.apple.MobileSMS.expressivesend.impact")));
await step("typing", async () => {
  await dm.send(typing("start"));
  await dm.send(typing("stop"));
});
const tapback = await step("react", () => sent.react("❤️"));
await step("unreact", () => tapback.unsend());
const reply = await step("reply", () => sent.reply("a reply"));
await step("edit", () => sent.edit("Hello twin!"));
await step("unsend", () => reply.unsend());
const again = await step("space.get", () => im.space.get(dm.id, { phone }));
await step("send via get", () => again.send("via get"));
await step("group send", () => group.send("Hello group"));

// Receive: the peer writes once our streams are open; the first inbound message ends it.
out.received = await step("receive", async () => {
  const stream = app.messages[Symbol.asyncIterator]();
  setTimeout(async () => {
    await fetch(`${env.TWIN_ADMIN}/_emulator/inbound`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ from: env.TWIN_PEER, text: "Hello back", line: phone }),
    });
  }, 1500);
  for (;;) {
    const { value } = await stream.next();
    const [, message] = value;
    if (message.content?.type === "text" && message.direction !== "outbound") {
      return message.content.text;
    }
  }
});
console.log(JSON.stringify(out));
await app.stop();
process.exit(0);
