// What the Element test clients share: their output lines, waiting, reading the input, logging
// in as a person in Element (matrix-js-sdk, with its Rust crypto in encrypted rooms), and how a
// script ends. Importing it sends everything the SDK prints to stderr: stdout is for our lines.

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

export const out = (line) => process.stdout.write(JSON.stringify(line) + "\n");
for (const name of ["log", "info", "debug", "trace"]) {
    console[name] = (...args) => process.stderr.write(args.map(String).join(" ") + "\n");
}
logger.setLevel("info");

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function readInput() {
    const chunks = [];
    for await (const chunk of process.stdin) chunks.push(chunk);
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

export async function until(what, condition, deadline) {
    for (;;) {
        const value = await condition();
        if (value) return value;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(100);
    }
}

// Logged in with a new device, crypto started when input.encrypted, the first sync done.
export async function logIn(input, startOptions = {}) {
    const login = sdk.createClient({ baseUrl: input.baseUrl });
    const session = await login.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: input.userId },
        password: input.password,
        initial_device_display_name: "Element (matrix-js-sdk)",
    });
    login.stopClient();
    const client = sdk.createClient({
        baseUrl: input.baseUrl,
        userId: session.user_id,
        accessToken: session.access_token,
        deviceId: session.device_id,
    });
    if (input.encrypted) {
        await client.initRustCrypto({ useIndexedDB: false });
    }
    const prepared = new Promise((resolve) => {
        client.on(sdk.ClientEvent.Sync, (state) => {
            if (state === "PREPARED") resolve();
        });
    });
    await client.startClient({ initialSyncLimit: 20, ...startOptions });
    await prepared;
    out({ step: "logged-in", userId: session.user_id, deviceId: session.device_id });
    return client;
}

// Run the script's main: exit status 0 when every step was done; otherwise an error line, 1.
export function run(main) {
    main().then(
        () => process.exit(0),
        (error) => {
            out({ step: "error", message: String(error?.stack ?? error) });
            process.exit(1);
        },
    );
}
