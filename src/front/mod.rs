//! The front end: reading `.lnas` files and their imports into syntax trees, and collecting the
//! definitions they hold. Nothing here knows about graphs or tensors.

pub mod ast;
pub mod fmt;
pub mod parse;
pub mod snapshot;
/// Files and spans live below the front end (diagnostics point into them too); re-exported here,
/// where they are read.
pub use crate::source;
pub mod stdlib;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ast::{BlockDef, Item, PinDef};
use source::{FileId, SourceDb, Span};
pub use stdlib::StdLib;

use crate::diag::{Code, Diagnostic, Diagnostics};

/// Largest spec file accepted.
pub const MAX_FILE_BYTES: usize = 4 << 20;

/// Everything the front end produced for one root file and its imports.
pub struct SourceTree {
    pub db: SourceDb,
    pub root: FileId,
    pub files: Vec<ast::File>,
    /// Block and space definitions by name, across all loaded files.
    pub defs: HashMap<String, BlockDef>,
    /// Pinned architectures in the root file.
    pub pins: Vec<PinDef>,
}

impl SourceTree {
    pub fn def(&self, name: &str) -> Option<&BlockDef> {
        self.defs.get(name)
    }

    /// The spaces defined in the root file, in source order.
    pub fn root_spaces(&self) -> Vec<&BlockDef> {
        let root = self.files.iter().find(|f| f.id == self.root);
        root.into_iter()
            .flat_map(|f| f.items.iter())
            .filter_map(|i| match i {
                Item::Block(b) if b.kind == ast::DefKind::Space => Some(b),
                _ => None,
            })
            .collect()
    }
}

/// Load a root file from disk with everything it imports.
pub fn load_path(path: &Path, diags: &mut Diagnostics) -> Option<SourceTree> {
    load_path_with(path, &StdLib::Embedded, diags)
}

/// Load a root file from disk, reading `std/...` imports from `std`.
pub fn load_path_with(path: &Path, std: &StdLib, diags: &mut Diagnostics) -> Option<SourceTree> {
    let mut db = SourceDb::new();
    let text = match read_source(path, None) {
        Ok(t) => t,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let root = db.add(path.display().to_string(), Some(canon), text);
    Some(load_root(db, root, std, diags))
}

/// Load a root file whose text is already in memory (the language server, tests).
pub fn load_text(name: &str, path: Option<PathBuf>, text: String, diags: &mut Diagnostics) -> SourceTree {
    let mut db = SourceDb::new();
    let root = db.add(name, path, text);
    load_root(db, root, &StdLib::Embedded, diags)
}

fn load_root(db: SourceDb, root: FileId, std: &StdLib, diags: &mut Diagnostics) -> SourceTree {
    let mut loader = Loader { db, files: vec![], stack: vec![], std, diags };
    loader.load(root);
    let Loader { db, files, .. } = loader;
    let mut defs: HashMap<String, BlockDef> = HashMap::new();
    let mut pins = vec![];
    for f in &files {
        for item in &f.items {
            match item {
                Item::Block(b) => {
                    if let Some(prev) = defs.get(&b.name.name) {
                        diags.push(
                            Diagnostic::new(
                                Code::Duplicate,
                                b.name.span,
                                format!("`{}` is defined twice", b.name.name),
                            )
                            .label("second definition")
                            .related(prev.name.span, "first defined here")
                            .hint("block and space names share one namespace across all imported files; rename one"),
                        );
                    } else {
                        defs.insert(b.name.name.clone(), b.clone());
                    }
                }
                Item::Pin(p) if f.id == root => pins.push(p.clone()),
                _ => {}
            }
        }
    }
    SourceTree { db, root, files, defs, pins }
}

/// Read a spec file: a diagnostic if it is unreadable, too large or not UTF-8.
fn read_source(path: &Path, from: Option<Span>) -> Result<String, Diagnostic> {
    let bytes = std::fs::read(path).map_err(|e| {
        let d = Diagnostic::new(Code::Io, from, format!("cannot read `{}`: {e}", path.display()));
        if from.is_some() {
            d.label("imported here").hint("import paths are relative to the importing file")
        } else {
            d
        }
    })?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Diagnostic::new(
            Code::TooLarge,
            from,
            format!("`{}` is {} bytes; spec files are limited to {MAX_FILE_BYTES} bytes", path.display(), bytes.len()),
        )
        .hint("is this really a .lnas file?"));
    }
    match String::from_utf8(bytes) {
        Ok(t) => Ok(t),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let (line, col) = {
                let valid = &e.as_bytes()[..at];
                let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                let col = valid.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
                (line, col)
            };
            Err(Diagnostic::new(
                Code::NotUtf8,
                from,
                format!("`{}` is not valid UTF-8 (byte {at}, at {line}:{col})", path.display()),
            )
            .hint("spec files are UTF-8 text; is this a binary file?"))
        }
    }
}

struct Loader<'d> {
    db: SourceDb,
    files: Vec<ast::File>,
    /// Files being loaded, root first: an import of one of these is a cycle.
    stack: Vec<FileId>,
    std: &'d StdLib,
    diags: &'d mut Diagnostics,
}

impl Loader<'_> {
    fn load(&mut self, id: FileId) {
        let parsed = match parse::parse_file(id, &self.db.get(id).text) {
            Ok(f) => f,
            Err(d) => {
                self.diags.push(d);
                return;
            }
        };
        self.stack.push(id);
        for item in &parsed.items {
            match item {
                Item::Import(imp) => self.import(id, imp),
                // A pin's spec is loaded like an import, so its blocks and spaces resolve here.
                Item::Pin(p) => self.import(id, &ast::Import { path: p.from.clone(), span: p.from_span }),
                Item::Block(_) => {}
            }
        }
        self.stack.pop();
        self.files.push(parsed);
    }

    fn import(&mut self, from: FileId, imp: &ast::Import) {
        let target = if let Some(rest) = imp.path.strip_prefix("std/") {
            match self.db.find_name(&imp.path) {
                Some(id) => id,
                None => match self.std.get(rest) {
                    Ok(text) => self.db.add(&imp.path, None, text),
                    Err(why) => {
                        self.diags.push(
                            Diagnostic::new(Code::ImportMissing, imp.span, why.to_string())
                                .label("not in the standard library")
                                .hint(format!("the standard library has: {}", stdlib::names().join(", "))),
                        );
                        return;
                    }
                },
            }
        } else {
            let base = self.db.get(from).path.as_ref().and_then(|p| p.parent().map(Path::to_path_buf));
            let path = match base {
                Some(b) => b.join(&imp.path),
                None => PathBuf::from(&imp.path),
            };
            let canon = match path.canonicalize() {
                Ok(c) => c,
                Err(_) => {
                    self.diags.push(
                        Diagnostic::new(Code::ImportMissing, imp.span, format!("cannot find `{}`", imp.path))
                            .label(format!("looked for {}", path.display()))
                            .hint(
                                "import paths are relative to the importing file; `std/...` names the standard library",
                            ),
                    );
                    return;
                }
            };
            match self.db.find_path(&canon) {
                Some(id) => id,
                None => match read_source(&canon, Some(imp.span)) {
                    Ok(t) => self.db.add(path.display().to_string(), Some(canon), t),
                    Err(d) => {
                        self.diags.push(d);
                        return;
                    }
                },
            }
        };
        if let Some(pos) = self.stack.iter().position(|&f| f == target) {
            let chain: Vec<String> = self.stack[pos..]
                .iter()
                .chain(std::iter::once(&target))
                .map(|&f| self.db.get(f).name.clone())
                .collect();
            self.diags.push(
                Diagnostic::new(Code::ImportCycle, imp.span, "import cycle")
                    .label("this import closes the cycle")
                    .hint(format!("{}; move the shared blocks into a file that imports neither", chain.join(" -> "))),
            );
            return;
        }
        if self.files.iter().any(|f| f.id == target) {
            return; // already loaded through another import
        }
        self.load(target);
    }
}
