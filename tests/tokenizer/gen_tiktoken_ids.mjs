// Reference ids for tests/tokenizer/gpt2_bpe_test.cpp: prints js-tiktoken's GPT-2 encoding of
// each text file, getEncoding("gpt2").encode(text, "all"), as one JSON array per line.
//   node gen_tiktoken_ids.mjs NPM_PREFIX FILE...
// NPM_PREFIX is where `npm install --prefix NPM_PREFIX js-tiktoken@1.0.21` put the package; it
// is outside this source tree, so it is loaded through a require() rooted there.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";

const [prefix, ...files] = process.argv.slice(2);
if (!prefix || files.length === 0) {
  console.error("usage: node gen_tiktoken_ids.mjs NPM_PREFIX FILE...");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(prefix), "package.json"));
const { getEncoding } = require("js-tiktoken");
const encoding = getEncoding("gpt2");
for (const file of files) {
  // The texts are valid UTF-8 (JavaScript strings cannot hold invalid UTF-8 anyway).
  const text = readFileSync(file, "utf8");
  process.stdout.write(JSON.stringify(encoding.encode(text, "all")) + "\n");
}
