// Starts `lightnasc lsp` (stdio) as the language server for .lnas files.
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration('lightnasc').get('path') || 'lightnasc';
  const server = { command, args: ['lsp'], transport: TransportKind.stdio };
  client = new LanguageClient('lightnasc', 'lightnasc', { run: server, debug: server }, {
    documentSelector: [{ scheme: 'file', language: 'lnas' }, { scheme: 'untitled', language: 'lnas' }],
  });
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
