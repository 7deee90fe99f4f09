//! Formatting: the whole document in its canonical layout.

use lsp_types::*;

use crate::lsp::analysis::Analysis;
use crate::lsp::text::LineIndex;

/// One edit that replaces the document with its canonical layout; nothing when it does not parse
/// (the diagnostics say why) or is already formatted.
pub fn formatting(a: &Analysis) -> Vec<TextEdit> {
    match crate::front::fmt::format(&a.text) {
        Ok(out) if out != a.text => {
            let index = LineIndex::new(&a.text);
            vec![TextEdit { range: index.range(0, a.text.len()), new_text: out }]
        }
        _ => vec![],
    }
}
