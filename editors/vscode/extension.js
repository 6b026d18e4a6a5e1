// The VS Code client of `pipec lsp`: starts the server over stdio for .pipe and .pipe.yaml files.
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("pipec").get("command", ["pipec", "lsp"]);
  const server = { command, args, transport: TransportKind.stdio };
  client = new LanguageClient("pipec", "pipec", server, {
    documentSelector: [
      { scheme: "file", language: "pipe" },
      { scheme: "file", pattern: "**/*.pipe.yaml" },
    ],
  });
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
