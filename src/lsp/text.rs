//! Positions and names as the protocol speaks them: UTF-16 line/column positions, `file://` URIs,
//! and the embedded standard library written out once so that editors can open its files.

use std::path::{Path, PathBuf};

use lsp_types::{Position, Range, Uri};

use crate::front::source::{FileId, SourceDb, Span};

/// Byte offsets <-> LSP positions (line, UTF-16 column) for one text.
pub struct LineIndex<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let col = self.text.get(start..offset).map_or(0, |s| s.encode_utf16().count());
        Position { line: line as u32, character: col as u32 }
    }

    pub fn range(&self, start: usize, end: usize) -> Range {
        Range { start: self.position(start), end: self.position(end) }
    }

    /// The byte offset of a position; past the end of a line means its end.
    pub fn offset(&self, p: Position) -> usize {
        let Some(&start) = self.starts.get(p.line as usize) else { return self.text.len() };
        let line_end = self.starts.get(p.line as usize + 1).map_or(self.text.len(), |&e| e - 1);
        let mut units = 0u32;
        for (i, ch) in self.text[start..line_end].char_indices() {
            if units >= p.character {
                return start + i;
            }
            units += ch.len_utf16() as u32;
        }
        line_end
    }
}

pub fn uri_to_path(uri: &Uri) -> Option<PathBuf> {
    url::Url::parse(uri.as_str()).ok()?.to_file_path().ok()
}

pub fn path_to_uri(path: &Path) -> Option<Uri> {
    let abs = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().ok()?.join(path) };
    url::Url::from_file_path(abs).ok()?.as_str().parse().ok()
}

/// A file of the compilation as a URI: its path, or for the standard library a copy written to
/// the user's cache folder (once per version), so that go-to-definition can open it.
pub fn file_uri(db: &SourceDb, file: FileId) -> Option<Uri> {
    let f = db.get(file);
    if let Some(p) = &f.path {
        return path_to_uri(p);
    }
    let rest = f.name.strip_prefix("std/")?;
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let path = base.join("lightnasc").join(concat!("std-", env!("CARGO_PKG_VERSION"))).join(rest);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(f.text.as_str()) {
        std::fs::create_dir_all(path.parent()?).ok()?;
        crate::util::write_atomic(&path, f.text.as_bytes()).ok()?;
    }
    path_to_uri(&path)
}

/// The range of a span in its own file.
pub fn span_range(db: &SourceDb, span: Span) -> Range {
    LineIndex::new(&db.get(span.file).text).range(span.start as usize, span.end as usize)
}
