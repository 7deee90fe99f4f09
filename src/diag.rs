//! Diagnostics: every problem found in a spec is one of these, with a stable code, a span, a
//! message and (usually) a hint. They are collected, never thrown, so one run reports them all.
//! Rendering goes through miette (text) or serde (JSON for tools and the language server).

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, ThemeCharacters, ThemeStyles};
use serde::Serialize;

use crate::source::{SourceDb, Span};

/// Stable diagnostic codes. The number ranges group them by the pass that reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Code {
    // E00xx: reading files
    /// The file could not be read.
    Io,
    /// The file is not UTF-8.
    NotUtf8,
    /// The file is larger than the front end accepts.
    TooLarge,
    /// Brackets nest deeper than the front end accepts.
    TooDeep,
    // E01xx: syntax
    Syntax,
    // E02xx: items, names and imports
    UnknownName,
    UnknownBlock,
    Duplicate,
    ImportMissing,
    ImportCycle,
    NoSpace,
    ReturnPlacement,
    Recursion,
    // E03xx: types and arguments
    Type,
    Arity,
    UnknownArgument,
    BadValue,
    Arithmetic,
    // E04xx: shapes
    Shape,
    // E05xx: choices
    Choice,
    // E06xx: pinned architectures
    Pin,
    // E07xx: limits
    Limit,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Io => "E0001",
            Code::NotUtf8 => "E0002",
            Code::TooLarge => "E0003",
            Code::TooDeep => "E0004",
            Code::Syntax => "E0100",
            Code::UnknownName => "E0200",
            Code::UnknownBlock => "E0201",
            Code::Duplicate => "E0202",
            Code::ImportMissing => "E0203",
            Code::ImportCycle => "E0204",
            Code::NoSpace => "E0205",
            Code::ReturnPlacement => "E0206",
            Code::Recursion => "E0207",
            Code::Type => "E0300",
            Code::Arity => "E0301",
            Code::UnknownArgument => "E0302",
            Code::BadValue => "E0303",
            Code::Arithmetic => "E0304",
            Code::Shape => "E0400",
            Code::Choice => "E0500",
            Code::Pin => "E0600",
            Code::Limit => "E0700",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secondary location that explains the primary one ("first defined here").
#[derive(Clone, Debug)]
pub struct Related {
    pub span: Span,
    pub message: String,
}

#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    /// Primary location; `None` only for problems with no source (a file that cannot be read).
    pub span: Option<Span>,
    /// Short text under the caret.
    pub label: Option<String>,
    pub hint: Option<String>,
    pub related: Vec<Related>,
}

impl Diagnostic {
    pub fn new(code: Code, span: impl Into<Option<Span>>, message: impl Into<String>) -> Self {
        Diagnostic { code, message: message.into(), span: span.into(), label: None, hint: None, related: vec![] }
    }
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn related(mut self, span: Span, message: impl Into<String>) -> Self {
        self.related.push(Related { span, message: message.into() });
        self
    }
}

/// A diagnostic list that passes push into.
#[derive(Default, Debug)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Add a diagnostic unless the same one is already there (a block instantiated several
    /// times reports each problem once).
    pub fn push(&mut self, d: Diagnostic) {
        if !self.0.iter().any(|o| o.code == d.code && o.span == d.span && o.message == d.message) {
            self.0.push(d);
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn extend(&mut self, other: Diagnostics) {
        other.0.into_iter().for_each(|d| self.push(d));
    }
}

/// The JSON form of a diagnostic (`check --format json`, the language server).
#[derive(Serialize, Debug)]
pub struct JsonDiagnostic {
    pub code: &'static str,
    pub severity: &'static str,
    pub message: String,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub end_line: Option<usize>,
    pub end_col: Option<usize>,
    pub hint: Option<String>,
    pub related: Vec<JsonRelated>,
}

#[derive(Serialize, Debug)]
pub struct JsonRelated {
    pub message: String,
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl Diagnostic {
    pub fn to_json(&self, db: &SourceDb) -> JsonDiagnostic {
        let (file, start, end) = match self.span {
            Some(s) => {
                let f = db.get(s.file);
                (Some(f.name.clone()), Some(f.line_col(s.start as usize)), Some(f.line_col(s.end as usize)))
            }
            None => (None, None, None),
        };
        JsonDiagnostic {
            code: self.code.as_str(),
            severity: "error",
            message: self.message.clone(),
            file,
            line: start.map(|p| p.0),
            col: start.map(|p| p.1),
            end_line: end.map(|p| p.0),
            end_col: end.map(|p| p.1),
            hint: self.hint.clone(),
            related: self
                .related
                .iter()
                .map(|r| {
                    let f = db.get(r.span.file);
                    let (line, col) = f.line_col(r.span.start as usize);
                    JsonRelated { message: r.message.clone(), file: f.name.clone(), line, col }
                })
                .collect(),
        }
    }

    /// Render as text: `error[E0201]: ...`, then `file:line:col` and the source line with a caret.
    pub fn render(&self, db: &SourceDb, color: bool) -> String {
        let report = MietteReport::new(self, db);
        // ASCII, with a caret under every span (miette's default pointer for 1-char spans is `|`).
        let characters = ThemeCharacters { underbar: '^', ..ThemeCharacters::ascii() };
        let theme =
            GraphicalTheme { characters, styles: if color { ThemeStyles::ansi() } else { ThemeStyles::none() } };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(120).with_links(false);
        let mut out = String::new();
        if handler.render_report(&mut out, &report).is_err() {
            out = format!("error[{}]: {}", self.code, self.message);
        }
        out
    }
}

/// Adapter from our diagnostic to miette's trait, carrying the source of its file.
#[derive(Debug)]
struct MietteReport {
    code: Code,
    message: String,
    location: Option<String>,
    source: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
    help: Option<String>,
    related: Vec<MietteReport>,
    /// A related location in another file: printed as advice after the error, not as an error.
    note: bool,
}

impl MietteReport {
    fn new(d: &Diagnostic, db: &SourceDb) -> Self {
        Self::build(d.code, &d.message, d.span, d.label.clone(), d.hint.clone(), db, &d.related)
    }

    fn build(
        code: Code,
        message: &str,
        span: Option<Span>,
        label: Option<String>,
        help: Option<String>,
        db: &SourceDb,
        related: &[Related],
    ) -> Self {
        let (source, mut labels, location) = match span {
            Some(s) => {
                let f = db.get(s.file);
                let ls = LabeledSpan::new_primary_with_span(label, clip(s, &f.text));
                (Some(NamedSource::new(&f.name, f.text.clone())), vec![ls], Some(db.location(s)))
            }
            None => (None, vec![], None),
        };
        // A related place in the same file is a second label in the same snippet (rustc's
        // "declared here"); one in another file follows as a note.
        let mut notes = vec![];
        for r in related {
            if span.is_some_and(|s| s.file == r.span.file) {
                let text = &db.get(r.span.file).text;
                labels.push(LabeledSpan::new_with_span(Some(r.message.clone()), clip(r.span, text)));
            } else {
                let mut n = Self::build(code, &r.message, Some(r.span), None, None, db, &[]);
                n.note = true;
                notes.push(n);
            }
        }
        MietteReport { code, message: message.to_string(), location, source, labels, help, related: notes, note: false }
    }
}

/// A span as miette's (offset, length), kept inside the text.
fn clip(s: Span, text: &str) -> (usize, usize) {
    (s.start as usize, s.len().min(text.len().saturating_sub(s.start as usize)))
}

impl fmt::Display for MietteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            // The location in the title keeps `file:line:col` on one greppable line.
            Some(loc) => write!(f, "{} ({loc})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for MietteReport {}

impl miette::Diagnostic for MietteReport {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        (!self.note).then(|| Box::new(self.code) as Box<dyn fmt::Display>)
    }
    fn severity(&self) -> Option<miette::Severity> {
        self.note.then_some(miette::Severity::Advice)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() { None } else { Some(Box::new(self.labels.iter().cloned())) }
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)))
        }
    }
}
