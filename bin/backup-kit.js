#!/usr/bin/env node
// `npx backup-kit …`: the command line, run from its TypeScript source (cli/main.ts).
require('tsx/cjs');
const { run } = require('../cli/main.ts');
run(process.argv.slice(2), (text) => process.stdout.write(`${text}\n`)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`backup-kit: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  },
);
