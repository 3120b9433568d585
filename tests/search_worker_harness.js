#!/usr/bin/env node
// Runs Material for MkDocs' own search worker (site/assets/javascripts/workers/search.*.min.js) under Node.
//
// The worker is a classic Web Worker script, so it is evaluated in a fresh `vm` context that looks like a
// worker's global scope: `self` is the global object, `addEventListener("message", …)` registers the handler,
// `postMessage` sends the answer back and `importScripts(...)` synchronously evaluates the lunr language
// scripts (resolved relative to the worker file, as a browser would). `module`, `exports` and `define` are
// absent, so the UMD wrappers of lunr-languages take their browser path, exactly as in the page.
//
// The messages are the ones Material's client sends (src/.../integrations/search/worker/_/index.ts and
// components/search/query/index.ts):
//   {type: 0 /* SETUP */, data: {config, docs, options: {suggest}}}  -> {type: 1 /* READY */}
//   {type: 2 /* QUERY */, data: "<what the user typed>"}             -> {type: 3 /* RESULT */, data: {items}}
//
// usage: node search_worker_harness.js WORKER.js SEARCH_INDEX.json QUERY [QUERY...]
// prints one JSON object: {"ready": true, "results": {QUERY: [[{location, title, score}, ...], ...]}}
// (one inner list per result group, i.e. per page, as Material renders them).

"use strict";

const fs = require("fs");
const path = require("path");
const vm = require("vm");

const SETUP = 0;
const READY = 1;
const QUERY = 2;
const RESULT = 3;

function fail(message) {
  process.stderr.write(`search_worker_harness: ${message}\n`);
  process.exit(2);
}

process.on("unhandledRejection", err => fail(`unhandled rejection in worker: ${err && err.stack || err}`));

const [workerPath, indexPath, ...queries] = process.argv.slice(2);
if (!workerPath || !indexPath || queries.length === 0)
  fail("usage: search_worker_harness.js WORKER.js SEARCH_INDEX.json QUERY [QUERY...]");

const workerDir = path.dirname(path.resolve(workerPath));
const listeners = [];
let pending = null;
const warnings = [];

const sandbox = {
  console: {
    log: (...a) => process.stderr.write(a.join(" ") + "\n"),
    warn: (...a) => warnings.push(a.map(String).join(" ")),
    error: (...a) => process.stderr.write(a.join(" ") + "\n"),
  },
  setTimeout,
  clearTimeout,
  addEventListener(type, fn) {
    if (type === "message") listeners.push(fn);
  },
  postMessage(message) {
    if (!pending) fail(`unexpected message from worker: ${JSON.stringify(message)}`);
    const resolve = pending;
    pending = null;
    resolve(message);
  },
  importScripts(...urls) {
    for (const url of urls) {
      const file = path.resolve(workerDir, url);
      if (!fs.existsSync(file)) throw new Error(`importScripts: ${url} -> ${file} does not exist`);
      vm.runInContext(fs.readFileSync(file, "utf8"), context, { filename: file });
    }
  },
};
sandbox.self = sandbox;
const context = vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(workerPath, "utf8"), context, { filename: workerPath });
if (listeners.length === 0) fail("the worker registered no message listener");

// Messages are structured-cloned in a browser; building them from JSON inside the worker's realm is the same.
function send(message) {
  return new Promise(resolve => {
    pending = resolve;
    context.__message = JSON.stringify(message);
    const data = vm.runInContext("JSON.parse(__message)", context);
    for (const fn of listeners) fn({ data });
  });
}

(async () => {
  const index = JSON.parse(fs.readFileSync(indexPath, "utf8"));
  const ready = await send({
    type: SETUP,
    data: { config: index.config, docs: index.docs, options: { suggest: false } },
  });
  if (ready.type !== READY) fail(`expected READY after SETUP, got ${JSON.stringify(ready)}`);

  const results = {};
  for (const query of queries) {
    const answer = await send({ type: QUERY, data: query });
    if (answer.type !== RESULT) fail(`expected RESULT for ${query}, got ${JSON.stringify(answer)}`);
    results[query] = answer.data.items.map(group =>
      group.map(item => ({ location: item.location, title: item.title, score: item.score })));
  }
  process.stdout.write(JSON.stringify({ ready: true, results, warnings }) + "\n");
})().catch(err => fail(err && err.stack || String(err)));
