#!/usr/bin/env node
// Verifies an Onshore audit log without Onshore: Node.js 20+, no dependencies.
//
//   onshore audit export --with-checkpoints --jwks keys.json -o audit.jsonl
//   node tools/verify-audit.mjs audit.jsonl --jwks keys.json [--witness audit-witness.jsonl ...]
//
// The rules it applies are the README's "Verifying the audit log without Onshore":
//  - a record's hash is the SHA-256 (lowercase hex) of its stored body bytes, exactly;
//  - the body is a JSON object whose `seq` counts up from 1 and whose `prev_hash` is the previous
//    record's hash (64 zeros for seq 1);
//  - a checkpoint's signature is Ed25519 over the RFC 8785 (JCS) form of
//    {"hash", "kid", "seq", "ts", "type": "onshore-audit-checkpoint"}, and its hash is the record's
//    hash at its seq; a checkpoint beyond the last record means the tail was cut off.
// Exit status: 0 intact, 1 broken (the message names the record), 2 bad usage or input.

import { createHash, createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";

const GENESIS = "0".repeat(64);
const CHECKPOINT = "onshore-audit-checkpoint";

// RFC 8785: ECMAScript's JSON.stringify for strings, numbers and literals; object members sorted by
// their names' UTF-16 code units (what Array.prototype.sort compares); no whitespace.
function jcs(value) {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(jcs).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${jcs(value[k])}`).join(",")}}`;
}

class Broken extends Error {}

function usage(message) {
  console.error(`error: ${message}`);
  console.error("usage: node verify-audit.mjs EXPORT.jsonl --jwks KEYS.json [--witness FILE]...");
  process.exit(2);
}

function parseArgs(argv) {
  const options = { exportFile: null, jwks: null, witnesses: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--jwks") options.jwks = argv[++i];
    else if (arg === "--witness") options.witnesses.push(argv[++i]);
    else if (arg.startsWith("--")) usage(`unknown option ${arg}`);
    else if (options.exportFile === null) options.exportFile = arg;
    else usage(`unexpected argument ${arg}`);
  }
  if (!options.exportFile) usage("no export file given");
  if (!options.jwks) usage("--jwks is required (the gateway's /.well-known/jwks.json)");
  return options;
}

function jsonLines(path) {
  const lines = [];
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((text, index) => {
      if (text.trim() === "") return;
      try {
        lines.push({ number: index + 1, value: JSON.parse(text) });
      } catch {
        lines.push({ number: index + 1, value: undefined });
      }
    });
  return lines;
}

function loadKeys(path) {
  const keys = new Map();
  for (const jwk of JSON.parse(readFileSync(path, "utf8")).keys ?? []) {
    if (jwk.kty === "OKP" && jwk.crv === "Ed25519") {
      keys.set(jwk.kid, createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk.x }, format: "jwk" }));
    }
  }
  if (keys.size === 0) usage(`${path} holds no Ed25519 key`);
  return keys;
}

function checkpointFrom(value) {
  if (value?.type !== CHECKPOINT) return null;
  const { seq, hash, ts, kid, signature } = value;
  if (!Number.isInteger(seq) || typeof ts !== "number" || typeof hash !== "string") return null;
  if (typeof kid !== "string" || typeof signature !== "string") return null;
  return { seq, hash, ts, kid, signature };
}

// The signed bytes: the JCS form; checkpoints signed before Onshore used JCS wrote a whole-second ts
// as `1700000000.0`, so that form is accepted too.
function signatureOk(cp, keys) {
  const key = keys.get(cp.kid);
  if (!key) return false;
  const signature = Buffer.from(cp.signature, "base64url");
  const message = jcs({ hash: cp.hash, kid: cp.kid, seq: cp.seq, ts: cp.ts, type: CHECKPOINT });
  const forms = [message];
  if (Number.isInteger(cp.ts)) forms.push(message.replace(`"ts":${cp.ts},`, `"ts":${cp.ts}.0,`));
  return forms.some((form) => verify(null, Buffer.from(form, "utf8"), key, signature));
}

function name(seq, id) {
  return `record seq ${seq}${id ? ` (id ${id})` : ""}`;
}

function checkRecords(lines) {
  const hashes = new Map(); // seq -> hash
  let expected = null;
  let prev = null;
  let canonical = 0;
  let legacy = 0;
  for (const { number, value } of lines) {
    if (value === undefined) throw new Broken(`export line ${number} is not JSON`);
    let bytes;
    if (typeof value.raw_body === "string") bytes = Buffer.from(value.raw_body, "utf8");
    else if (typeof value.raw_body_b64 === "string") bytes = Buffer.from(value.raw_body_b64, "base64");
    else throw new Broken(`export line ${number} has no raw_body: export with a current \`onshore audit export\``);
    const label = name(expected ?? value.seq, value.id);
    const actual = createHash("sha256").update(bytes).digest("hex");
    let body;
    try {
      body = JSON.parse(bytes.toString("utf8"));
    } catch {
      throw new Broken(`${label}: body is not valid JSON: the record was altered`);
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new Broken(`${label}: body is not a JSON object: the record was altered`);
    }
    if (!Number.isInteger(body.seq)) throw new Broken(`${label}: body has no integer seq: the record was altered`);
    if (expected === null) {
      // The first record of the export: a whole export starts at seq 1 from the genesis hash.
      expected = body.seq;
      prev = body.seq === 1 ? GENESIS : body.prev_hash;
      if (body.seq !== 1) console.error(`note: the export starts at seq ${body.seq}; earlier records are not checked`);
    }
    if (body.seq > expected) {
      throw new Broken(`record seq ${expected}: missing: the next record is seq ${body.seq} (deleted records)`);
    }
    if (body.seq < expected) {
      throw new Broken(`${name(expected, body.id)}: body says seq ${body.seq}: records were reordered or copied`);
    }
    if (actual !== value.hash) {
      throw new Broken(`${name(body.seq, body.id)}: content does not match its hash: the record was altered`);
    }
    if (body.prev_hash !== prev) {
      throw new Broken(
        `${name(body.seq, body.id)}: previous-hash link does not match record seq ${body.seq - 1}: ` +
          "a record before it was removed, inserted or altered",
      );
    }
    // The readable fields of the line must say what the hashed bytes say.
    const { hash: _h, raw_body: _r, raw_body_b64: _b, ...fields } = value;
    if (jcs(fields) !== jcs(body)) {
      throw new Broken(`${name(body.seq, body.id)}: the export line's fields differ from its raw body`);
    }
    if (jcs(body) === bytes.toString("utf8")) canonical++;
    else legacy++;
    hashes.set(body.seq, actual);
    prev = actual;
    expected++;
  }
  const first = hashes.size ? Math.min(...hashes.keys()) : 0;
  return { hashes, first, last: expected === null ? 0 : expected - 1, canonical, legacy };
}

function checkCheckpoint(cp, chain, keys, source) {
  if (!signatureOk(cp, keys)) {
    throw new Broken(`record seq ${cp.seq}: ${source} checkpoint signature is invalid: it was altered or forged`);
  }
  if (cp.seq < chain.first) return false; // before this export's window
  if (cp.seq > chain.last) {
    throw new Broken(
      `record seq ${chain.last + 1}: missing: the chain ends at seq ${chain.last}, but a ${source} checkpoint ` +
        `covers seq ${cp.seq}: records from seq ${chain.last + 1} on were removed (truncated)`,
    );
  }
  if (chain.hashes.get(cp.seq) !== cp.hash) {
    throw new Broken(`record seq ${cp.seq}: hash differs from the ${source} checkpoint: the chain was rewritten`);
  }
  return true;
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  const keys = loadKeys(options.jwks);
  const lines = jsonLines(options.exportFile);
  const recordLines = lines.filter(({ value }) => value?.type !== CHECKPOINT);
  const checkpoints = lines.map(({ value }) => checkpointFrom(value)).filter(Boolean);
  const chain = checkRecords(recordLines);
  let signed = 0;
  for (const cp of checkpoints) signed += checkCheckpoint(cp, chain, keys, "signed") ? 1 : 0;
  const inExport = new Set(checkpoints.map((cp) => cp.seq));
  let witnessed = 0;
  for (const path of options.witnesses) {
    for (const { number, value } of jsonLines(path)) {
      const cp = checkpointFrom(value);
      if (cp === null) {
        console.error(`warning: ${path} line ${number} holds no checkpoint (a torn write?): ignored`);
        continue;
      }
      if (!checkCheckpoint(cp, chain, keys, "witness's")) continue;
      if (checkpoints.length && !inExport.has(cp.seq)) {
        throw new Broken(`record seq ${cp.seq}: the witness holds a checkpoint the database lost: checkpoints were deleted`);
      }
      witnessed++;
    }
  }
  if (!options.witnesses.length) {
    console.error("note: no --witness file: records after the last checkpoint could be removed unnoticed");
  }
  if (!checkpoints.length) console.error("note: the export has no checkpoints (export with --with-checkpoints)");
  console.log(
    `OK: ${recordLines.length} records, chain intact to seq ${chain.last}; ${signed} signed checkpoints and ` +
      `${witnessed} witnessed checkpoints verified; ${chain.canonical} records in RFC 8785 form, ` +
      `${chain.legacy} in the earlier form (verified over their stored bytes).`,
  );
}

try {
  main();
} catch (error) {
  if (!(error instanceof Broken)) throw error;
  console.error(`BROKEN: ${error.message}`);
  process.exit(1);
}
