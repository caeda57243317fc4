// A person in Element, driven by tests/integration/test_element_flows.py: matrix-js-sdk (the SDK
// Element is built on) does one of Element's own flows with the bot, as Element builds it.
//
//   "thread":      joins a challenge room, submits an idea, opens the bot's card in a thread and
//                  sends commands there (sendMessage with a thread id: the SDK adds the thread
//                  relation, is_falling_back and the m.in_reply_to fallback).
//   "late-joiner": logs in and joins an encrypted room only after others have talked there, with
//                  the SDK's Rust crypto, then sends a command (encrypted) and reads the answer.
//   "dm":          creates a direct chat the way Element does (is_direct, the bot invited,
//                  trusted_private_chat, encrypted if asked) and sends its first message at once,
//                  before the bot has joined.
//
// Input: one JSON object on stdin
//   {flow, baseUrl, userId, password, botUserId, roomId?, commands, encrypted, skip?, timeoutMs}
//   (skip: in "dm", answers containing it are not the answer waited for)
// Output: one JSON object a line on stdout ({"step": ...}); the SDK's own logging goes to stderr.
// Exit status 0 when every step was done; otherwise a {"step": "error"} line and status 1.

import * as sdk from "matrix-js-sdk";
import { logIn, out, readInput, run, until } from "./common.mjs";

async function joined(client, roomId, deadline) {
    const room = await until("the room", () => client.getRoom(roomId), deadline);
    await until("the join", () => room.getMyMembership() === sdk.KnownMembership.Join, deadline);
    return room;
}

// Every event the SDK holds for the room: its main timeline and each of its threads.
function allEvents(room) {
    const events = [...room.getLiveTimeline().getEvents()];
    for (const thread of room.getThreads()) events.push(...thread.events);
    return events;
}

// The bot's answer to our event `eventId`, once the SDK has it (decrypted, if it came encrypted).
// With `skip`, answers whose body contains it are passed over (and listed in `skipped`).
async function answerTo(room, botUserId, eventId, deadline, skip = null) {
    const answers = () =>
        allEvents(room).filter(
            (event) =>
                event.getSender() === botUserId &&
                event.getType() === "m.room.message" &&
                event.getContent()["m.relates_to"]?.["m.in_reply_to"]?.event_id === eventId,
        );
    const skipped = (event) => skip !== null && String(event.getContent().body).includes(skip);
    const answer = await until(
        `the bot's answer to ${eventId}`,
        () => answers().find((event) => !skipped(event)),
        deadline,
    );
    const thread = answer.threadRootId ? room.getThread(answer.threadRootId) : null;
    return {
        eventId: answer.getId(),
        body: answer.getContent().body,
        relation: answer.getContent()["m.relates_to"],
        threadRootId: answer.threadRootId ?? null,
        isThreadRoot: answer.isThreadRoot,
        inThreadModel: thread?.findEventById(answer.getId()) !== undefined,
        inMainTimeline: room.getLiveTimeline().getEvents().some((e) => e.getId() === answer.getId()),
        wireEncrypted: answer.isEncrypted(),
        decryptionFailure: answer.isDecryptionFailure(),
        skipped: answers()
            .filter(skipped)
            .map((event) => event.getContent().body),
    };
}

async function send(client, roomId, threadId, body) {
    const content = { msgtype: "m.text", body };
    // The SDK adds the thread relation (and its fallback) to `content` itself, as in Element.
    const { event_id: eventId } = await client.sendMessage(roomId, threadId, content);
    return { eventId, content };
}

async function thread(client, input, deadline) {
    await client.joinRoom(input.roomId);
    const room = await joined(client, input.roomId, deadline);
    out({ step: "joined", roomId: room.roomId });

    const idea = await send(client, room.roomId, null, input.commands.idea);
    const card = await answerTo(room, input.botUserId, idea.eventId, deadline);
    const ideaId = Number(/#(\d+)/.exec(card.body)?.[1]);
    out({ step: "card", ...card, ideaId });

    // Opening the card's thread in Element makes the SDK's Thread for it, if none is there yet.
    const root = room.findEventById(card.eventId);
    if (!room.getThread(card.eventId)) room.createThread(card.eventId, root, [], true);
    for (const [step, command] of [
        ["voted", `!vote ${ideaId}`],
        ["shown", `!show ${ideaId}`],
    ]) {
        const sent = await send(client, room.roomId, card.eventId, command);
        const answer = await answerTo(room, input.botUserId, sent.eventId, deadline);
        const threadModel = room.getThread(card.eventId);
        out({
            step,
            sent,
            answer,
            threadLength: threadModel?.length ?? 0,
            threadIds: threadModel?.events.map((e) => e.getId()) ?? [],
        });
    }
}

async function lateJoiner(client, input, deadline) {
    await client.joinRoom(input.roomId);
    const room = await joined(client, input.roomId, deadline);
    out({ step: "joined", roomId: room.roomId, encrypted: client.isRoomEncrypted?.(room.roomId) });
    const sent = await send(client, room.roomId, null, input.commands.ask);
    const mine = room.findEventById(sent.eventId);
    const answer = await answerTo(room, input.botUserId, sent.eventId, deadline);
    out({ step: "answered", sent: sent.eventId, sentEncrypted: mine?.isEncrypted() ?? null, answer });
}

async function directChat(client, input, deadline) {
    // As Element's createRoom for a DM: is_direct, the other invited, trusted_private_chat, and
    // encryption in the initial state when the other side has devices that can read it.
    const initialState = input.encrypted
        ? [
              {
                  type: "m.room.encryption",
                  state_key: "",
                  content: { algorithm: "m.megolm.v1.aes-sha2" },
              },
          ]
        : [];
    const { room_id: roomId } = await client.createRoom({
        is_direct: true,
        invite: [input.botUserId],
        preset: sdk.Preset.TrustedPrivateChat,
        visibility: sdk.Visibility.Private,
        initial_state: initialState,
    });
    const room = await joined(client, roomId, deadline);
    if (input.encrypted) {
        // Encrypted, the first message can go only once the SDK has seen the room's encryption
        // (or it goes in the clear) and the bot's invite (or the bot gets no key for it): a
        // sync can come while Synapse is still creating the room, with the invite made last.
        await until(
            "the room's encryption and the bot's invite",
            async () =>
                (await client.getCrypto().isEncryptionEnabledInRoom(roomId)) &&
                room.getMember(input.botUserId) !== null,
            deadline,
        );
    }
    const sent = await send(client, roomId, null, input.commands.ask); // right away
    const mine = room.findEventById(sent.eventId);
    const botMembership = room.getMember(input.botUserId)?.membership ?? null;
    await client.setAccountData(sdk.EventType.Direct, { [input.botUserId]: [roomId] });
    out({
        step: "sent",
        roomId,
        eventId: sent.eventId,
        botMembershipWhenSent: botMembership,
        sentEncrypted: mine?.isEncrypted() ?? null,
    });
    const answer = await answerTo(room, input.botUserId, sent.eventId, deadline, input.skip);
    out({ step: "answered", answer });
}

const FLOWS = { thread, "late-joiner": lateJoiner, dm: directChat };

async function main() {
    const input = await readInput();
    const deadline = Date.now() + (input.timeoutMs ?? 60000);
    const flow = FLOWS[input.flow];
    if (!flow) throw new Error(`no flow ${input.flow}`);
    const client = await logIn(input, { threadSupport: true });
    try {
        await flow(client, input, deadline);
    } finally {
        client.stopClient();
    }
}

run(main);
