//! The compiler's diagnostics as LSP diagnostics.

use lsp_types::*;

use crate::lsp::analysis::Analysis;
use crate::lsp::text::{LineIndex, file_uri, span_range};

/// The compiler's diagnostics for the root file. A problem in an imported file is shown at the
/// top of this one, naming where it is.
pub fn diagnostics(a: &Analysis) -> Vec<Diagnostic> {
    let db = &a.outcome.db;
    let index = LineIndex::new(&a.text);
    a.outcome
        .diags
        .0
        .iter()
        .map(|d| {
            let (range, prefix) = match d.span {
                // The root is the first file the checker loaded.
                Some(s) if s.file.0 == 0 => (index.range(s.start as usize, s.end as usize), String::new()),
                Some(s) => (Range::default(), format!("in {}: ", db.location(s))),
                None => (Range::default(), String::new()),
            };
            let mut message = format!("{prefix}{}", d.message);
            if let Some(l) = &d.label {
                message.push_str(&format!(" ({l})"));
            }
            if let Some(h) = &d.hint {
                message.push_str(&format!("\nhint: {h}"));
            }
            let related: Vec<DiagnosticRelatedInformation> = d
                .related
                .iter()
                .filter_map(|r| {
                    Some(DiagnosticRelatedInformation {
                        location: Location::new(file_uri(db, r.span.file)?, span_range(db, r.span)),
                        message: r.message.clone(),
                    })
                })
                .collect();
            Diagnostic {
                range,
                severity: Some(DiagnosticSeverity::ERROR),
                code: Some(NumberOrString::String(d.code.as_str().to_string())),
                source: Some("lightnasc".into()),
                message,
                related_information: (!related.is_empty()).then_some(related),
                ..Default::default()
            }
        })
        .collect()
}
