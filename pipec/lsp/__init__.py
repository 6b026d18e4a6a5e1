"""`pipec lsp`: editor support (a Language Server Protocol server) built on the compiler's own
parser and checker; `server` wires the protocol, the other modules answer one kind of request."""
