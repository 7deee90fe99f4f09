//! `lightnasc lsp`: a Language Server Protocol 3.17 server on stdin/stdout (lsp-server, the
//! synchronous transport rust-analyzer uses). Every open document is re-analysed on each change by
//! the compiler's own front end and lowering, so the editor shows exactly what `check` reports.

mod analysis;
mod features;
mod text;

use std::collections::HashMap;

use lsp_server::{Connection, ExtractError, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest, References, SemanticTokensFullRequest,
};
use lsp_types::*;

use analysis::Analysis;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Serve on stdin/stdout until the client says `exit`.
pub fn run_stdio() -> Result<(), Error> {
    let (connection, io_threads) = Connection::stdio();
    serve(&connection)?;
    drop(connection);
    io_threads.join()?;
    Ok(())
}

pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec!["(".into(), ",".into(), ">".into(), " ".into()]),
            ..Default::default()
        }),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: SemanticTokensLegend {
                    token_types: features::TOKEN_TYPES.to_vec(),
                    token_modifiers: features::TOKEN_MODIFIERS.to_vec(),
                },
                full: Some(SemanticTokensFullOptions::Bool(true)),
                range: None,
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

pub fn serve(connection: &Connection) -> Result<(), Error> {
    let caps = serde_json::to_value(capabilities())?;
    let init = serde_json::json!({
        "capabilities": caps,
        "serverInfo": { "name": "lightnasc", "version": env!("CARGO_PKG_VERSION") },
    });
    let (id, _params) = connection.initialize_start()?;
    connection.initialize_finish(id, init)?;
    let mut server = Server { docs: HashMap::new() };
    for msg in &connection.receiver {
        match msg {
            Message::Request(req) => {
                if connection.handle_shutdown(&req)? {
                    return Ok(());
                }
                // A bug in one request must not take the editor's server down: answer it with an
                // internal error and go on.
                let id = req.id.clone();
                let resp = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.request(req)))
                    .unwrap_or_else(|_| {
                        Response::new_err(
                            id,
                            lsp_server::ErrorCode::InternalError as i32,
                            "lightnasc lsp: internal error".into(),
                        )
                    });
                connection.sender.send(Message::Response(resp))?;
            }
            Message::Notification(n) => {
                for out in server.notification(n) {
                    connection.sender.send(Message::Notification(out))?;
                }
            }
            Message::Response(_) => {}
        }
    }
    Ok(())
}

struct Server {
    docs: HashMap<Uri, Analysis>,
}

fn analyse(uri: &Uri, text: String) -> Analysis {
    let path = text::uri_to_path(uri);
    let name = path.as_ref().map_or_else(|| uri.as_str().to_string(), |p| p.display().to_string());
    // An internal bug while checking (reported by `check` as a crash) must not end the session:
    // the document is then analysed as empty, so the editor keeps its other features.
    std::panic::catch_unwind(|| Analysis::new(&name, path.clone(), text.clone()))
        .unwrap_or_else(|_| Analysis::new(&name, path, String::new()))
}

fn publish(uri: Uri, a: Option<&Analysis>) -> Notification {
    let params =
        PublishDiagnosticsParams { uri, diagnostics: a.map(features::diagnostics).unwrap_or_default(), version: None };
    Notification::new(PublishDiagnostics::METHOD.to_string(), params)
}

impl Server {
    fn notification(&mut self, n: Notification) -> Vec<Notification> {
        let n = match cast_notification::<DidOpenTextDocument>(n) {
            Ok(p) => {
                let uri = p.text_document.uri;
                self.docs.insert(uri.clone(), analyse(&uri, p.text_document.text));
                return vec![publish(uri.clone(), self.docs.get(&uri))];
            }
            Err(n) => n,
        };
        let n = match cast_notification::<DidChangeTextDocument>(n) {
            Ok(p) => {
                let uri = p.text_document.uri;
                // Full sync: the last change holds the whole text.
                let Some(change) = p.content_changes.into_iter().last() else { return vec![] };
                self.docs.insert(uri.clone(), analyse(&uri, change.text));
                return vec![publish(uri.clone(), self.docs.get(&uri))];
            }
            Err(n) => n,
        };
        if let Ok(p) = cast_notification::<DidCloseTextDocument>(n) {
            self.docs.remove(&p.text_document.uri);
            return vec![publish(p.text_document.uri, None)];
        }
        vec![]
    }

    fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        let result = self.dispatch(req);
        match result {
            Ok(v) => Response::new_ok(id, v),
            Err((code, msg)) => Response::new_err(id, code, msg),
        }
    }

    fn doc(&self, uri: &Uri) -> Result<&Analysis, (i32, String)> {
        self.docs
            .get(uri)
            .ok_or_else(|| (lsp_server::ErrorCode::InvalidParams as i32, format!("{} is not open", uri.as_str())))
    }

    fn dispatch(&mut self, req: Request) -> Result<serde_json::Value, (i32, String)> {
        let json = |v: serde_json::Result<serde_json::Value>| {
            v.map_err(|e| (lsp_server::ErrorCode::InternalError as i32, e.to_string()))
        };
        let req = match cast_request::<HoverRequest>(req) {
            Ok((_, p)) => {
                let a = self.doc(&p.text_document_position_params.text_document.uri)?;
                return json(serde_json::to_value(features::hover(a, p.text_document_position_params.position)));
            }
            Err(r) => r,
        };
        let req = match cast_request::<GotoDefinition>(req) {
            Ok((_, p)) => {
                let a = self.doc(&p.text_document_position_params.text_document.uri)?;
                let loc = features::definition(a, p.text_document_position_params.position);
                return json(serde_json::to_value(loc.map(GotoDefinitionResponse::Scalar)));
            }
            Err(r) => r,
        };
        let req = match cast_request::<References>(req) {
            Ok((_, p)) => {
                let a = self.doc(&p.text_document_position.text_document.uri)?;
                let locs = features::references(a, p.text_document_position.position, p.context.include_declaration);
                return json(serde_json::to_value(locs));
            }
            Err(r) => r,
        };
        let req = match cast_request::<Completion>(req) {
            Ok((_, p)) => {
                let a = self.doc(&p.text_document_position.text_document.uri)?;
                let items = features::completion(a, p.text_document_position.position);
                return json(serde_json::to_value(CompletionResponse::Array(items)));
            }
            Err(r) => r,
        };
        let req = match cast_request::<DocumentSymbolRequest>(req) {
            Ok((_, p)) => {
                let a = self.doc(&p.text_document.uri)?;
                return json(serde_json::to_value(DocumentSymbolResponse::Nested(features::symbols(a))));
            }
            Err(r) => r,
        };
        let req = match cast_request::<Formatting>(req) {
            Ok((_, p)) => {
                let a = self.doc(&p.text_document.uri)?;
                return json(serde_json::to_value(features::formatting(a)));
            }
            Err(r) => r,
        };
        let req = match cast_request::<SemanticTokensFullRequest>(req) {
            Ok((_, p)) => {
                let a = self.doc(&p.text_document.uri)?;
                let data = features::semantic_tokens(a);
                return json(serde_json::to_value(SemanticTokensResult::Tokens(SemanticTokens {
                    result_id: None,
                    data,
                })));
            }
            Err(r) => r,
        };
        Err((lsp_server::ErrorCode::MethodNotFound as i32, format!("unsupported request {}", req.method)))
    }
}

fn cast_request<R: lsp_types::request::Request>(req: Request) -> Result<(RequestId, R::Params), Request> {
    match req.extract(R::METHOD) {
        Ok(v) => Ok(v),
        Err(ExtractError::MethodMismatch(r)) => Err(r),
        // Bad parameters: answer as unknown, so the client sees an error and the server lives on.
        Err(ExtractError::JsonError { method, .. }) => {
            Err(Request::new(RequestId::from(0), method, serde_json::Value::Null))
        }
    }
}

fn cast_notification<N: lsp_types::notification::Notification>(n: Notification) -> Result<N::Params, Notification> {
    match n.extract(N::METHOD) {
        Ok(v) => Ok(v),
        Err(ExtractError::MethodMismatch(n)) => Err(n),
        Err(ExtractError::JsonError { method, .. }) => Err(Notification::new(method, serde_json::Value::Null)),
    }
}
