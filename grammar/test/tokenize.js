// Tokenise .lnas files with VS Code's own TextMate engine (vscode-textmate + vscode-oniguruma)
// and print, as JSON, every token with its scopes: {"file": [[line, start, text, [scopes]], ...]}.
// Before that, every regex in the grammar is compiled with Oniguruma, so an invalid one fails here.
//
// usage: NODE_PATH=<dir with node_modules> node tokenize.js GRAMMAR.json FILE...

const fs = require('fs');
const path = require('path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

async function main() {
  const [grammarPath, ...files] = process.argv.slice(2);
  const wasm = fs.readFileSync(path.join(path.dirname(require.resolve('vscode-oniguruma')), 'onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const onigLib = Promise.resolve({
    createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
    createOnigString: (s) => new oniguruma.OnigString(s),
  });

  const raw = fs.readFileSync(grammarPath, 'utf8');
  const grammarJson = JSON.parse(raw);
  let regexes = 0;
  (function walk(node, where) {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${where}[${i}]`));
    if (node && typeof node === 'object') {
      for (const key of ['match', 'begin', 'end', 'while']) {
        if (typeof node[key] === 'string') {
          try {
            new oniguruma.OnigScanner([node[key]]).dispose();
            regexes++;
          } catch (e) {
            console.error(`invalid regex at ${where}.${key}: ${node[key]}: ${e.message}`);
            process.exit(3);
          }
        }
      }
      for (const [k, v] of Object.entries(node)) walk(v, `${where}.${k}`);
    }
  })(grammarJson, '$');

  const registry = new vsctm.Registry({
    onigLib,
    loadGrammar: async () => vsctm.parseRawGrammar(raw, grammarPath),
  });
  const grammar = await registry.loadGrammar(grammarJson.scopeName);
  const out = { regexes, files: {} };
  for (const file of files) {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    let state = vsctm.INITIAL;
    const tokens = [];
    lines.forEach((line, i) => {
      const r = grammar.tokenizeLine(line, state);
      for (const t of r.tokens) {
        const text = line.substring(t.startIndex, t.endIndex);
        if (text.trim() !== '') tokens.push([i + 1, t.startIndex + 1, text, t.scopes]);
      }
      state = r.ruleStack;
    });
    out.files[file] = tokens;
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
