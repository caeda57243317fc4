// A person in Element, driven by tests/integration/test_element_sdk.py: matrix-js-sdk (the SDK
// Element is built on) logs in, joins a challenge room, reads the bot's poll with its own poll
// model, answers it as Element does and changes the answer once, then waits for the poll to end
// and counts the votes the way Element's poll view does.
//
// Input: one JSON object on stdin
//   {baseUrl, userId, password, roomId, botUserId, answers: [first, then], encrypted, timeoutMs}
// Output: one JSON object a line on stdout ({"step": ...}); the SDK's own logging goes to stderr.
// Exit status 0 when every step was done; otherwise a {"step": "error"} line and status 1.

import * as sdk from "matrix-js-sdk";
import { M_POLL_START } from "matrix-js-sdk/lib/@types/polls.js";
import { PollResponseEvent } from "matrix-js-sdk/lib/extensible_events_v1/PollResponseEvent.js";
import { PollStartEvent } from "matrix-js-sdk/lib/extensible_events_v1/PollStartEvent.js";
import { logIn, out, readInput, run, sleep, until } from "./common.mjs";

// Element's poll view (MPollBody): each person's latest response counts; a spoiled one (no
// answers, or an answer the poll does not offer) counts as no answer; only responses sent
// before the end count (the SDK's Poll model already leaves the later ones out).
function countVotes(own, responses) {
    const latest = new Map();
    for (const event of responses.getRelations()) {
        const seen = latest.get(event.getSender());
        if (!seen || seen.getTs() < event.getTs()) latest.set(event.getSender(), event);
    }
    const counts = Object.fromEntries(own.answers.map((answer) => [answer.id, 0]));
    let voters = 0;
    for (const event of latest.values()) {
        let response;
        try {
            response = new PollResponseEvent({ type: event.getType(), content: event.getContent() });
        } catch {
            continue; // not a response the SDK can read: no vote
        }
        response.validateAgainst(own);
        if (response.spoiled || response.answerIds.length === 0) continue;
        voters += 1;
        for (const id of response.answerIds) counts[id] += 1;
    }
    return { counts, voters };
}

async function main() {
    const input = await readInput();
    const deadline = Date.now() + (input.timeoutMs ?? 60000);
    const client = await logIn(input);

    await client.joinRoom(input.roomId);
    const room = await until("the room", () => client.getRoom(input.roomId), deadline);
    await until(
        "the join",
        () => room.getMyMembership() === sdk.KnownMembership.Join,
        deadline,
    );
    out({ step: "joined", roomId: room.roomId });

    const poll = await until(
        "the bot's poll",
        () => [...room.polls.values()].find((p) => p.rootEvent.getSender() === input.botUserId),
        deadline,
    );
    // Start following its responses (the Poll model fetches them once, then adds new ones).
    await poll.getResponses();
    // The Poll model's start (parsed by matrix-events-sdk, as MatrixEvent does), and the same
    // event parsed again by matrix-js-sdk's own PollStartEvent: both must read the bot's poll.
    const start = poll.pollEvent;
    const own = new PollStartEvent({
        type: poll.rootEvent.getType(),
        content: poll.rootEvent.getContent(),
    });
    const read = (parsed) => ({
        question: parsed.question.text,
        kind: parsed.rawKind,
        maxSelections: parsed.maxSelections,
        answers: parsed.answers.map((answer) => ({ id: answer.id, text: answer.text })),
    });
    out({
        step: "poll",
        eventId: poll.pollId,
        type: poll.rootEvent.getType(),
        wireEncrypted: poll.rootEvent.isEncrypted(),
        isPollStart: M_POLL_START.matches(poll.rootEvent.getType()),
        model: start ? read(start) : null,
        ...read(own),
        isEnded: poll.isEnded,
    });

    // As Element does when an option is clicked: the SDK's own response event, sent as is.
    const sent = [];
    for (const answer of input.answers) {
        const response = PollResponseEvent.from([answer], poll.pollId).serialize();
        const { event_id: eventId } = await client.sendEvent(
            room.roomId,
            response.type,
            response.content,
        );
        sent.push({ eventId, type: response.type, content: response.content });
        await sleep(50); // the change is later by the clock than the first answer
    }
    out({ step: "answered", responses: sent });

    await until("the poll to end", () => poll.isEnded, deadline);
    const end = room.findEventById(poll.endEventId);
    // Responses keep arriving until the end is seen; count after the last one we expect.
    const responses = await poll.getResponses();
    const { counts, voters } = countVotes(own, responses);
    out({
        step: "ended",
        endEventId: poll.endEventId,
        endSender: end?.getSender() ?? null,
        endType: end?.getType() ?? null,
        endWireEncrypted: end?.isEncrypted() ?? null,
        isEnded: poll.isEnded,
        counts,
        voters,
    });
    client.stopClient();
}

run(main);
