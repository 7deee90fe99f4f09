//! The canonical layout of `.lnas` files (`lightnasc fmt`, the language server's formatting).
//!
//! The printer walks pest's concrete tree and re-emits every token with canonical spacing. Comments
//! are silent in the grammar, so they are picked up from the source gaps between tokens: a comment on
//! the same line as the token before it stays at the end of that line, any other comment gets a line
//! of its own. Line breaks are the writer's choice in three places and are kept there: before a `|>`,
//! inside an argument, parameter or list bracket (then one entry per line with a trailing comma), and
//! inside a `{ ... }` value block. Everything else is fixed, so formatting is idempotent.

use pest::iterators::Pair;

use super::parse::{Rule, concrete_tree};
use super::source::FileId;
use crate::diag::Diagnostic;

const INDENT: &str = "    ";

/// Format one file. A file that does not parse is refused with its syntax diagnostic.
pub fn format(text: &str) -> Result<String, Diagnostic> {
    let root = concrete_tree(FileId(0), text)?;
    let mut p = Printer::new(text);
    p.file(root);
    Ok(p.finish())
}

struct Comment {
    text: String,
    /// On the same line as the token before it.
    trailing: bool,
    /// A blank line separates it from what came before.
    blank_before: bool,
}

struct Printer<'s> {
    src: &'s str,
    /// Source bytes consumed so far.
    cursor: usize,
    out: String,
    indent: usize,
    /// What must come before the next token: a space, a line break, a blank line.
    want_space: bool,
    want_newline: bool,
    want_blank: bool,
    pending: Vec<Comment>,
    /// The gap before the next token held a blank line (kept between statements and items).
    gap_blank: bool,
}

impl<'s> Printer<'s> {
    fn new(src: &'s str) -> Self {
        Printer {
            src,
            cursor: 0,
            out: String::new(),
            indent: 0,
            want_space: false,
            want_newline: false,
            want_blank: false,
            pending: vec![],
            gap_blank: false,
        }
    }

    /// Read whitespace and comments from the cursor up to the next token, queueing the comments.
    fn scan_gap(&mut self) {
        let bytes = self.src.as_bytes();
        let mut newlines = 0usize;
        let mut i = self.cursor;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => {
                    newlines += 1;
                    i += 1;
                }
                b' ' | b'\t' | b'\r' => i += 1,
                b'/' if bytes.get(i + 1) == Some(&b'/') => {
                    let end = self.src[i..].find('\n').map_or(self.src.len(), |n| i + n);
                    let trailing = newlines == 0 && self.cursor > 0 && !self.out.is_empty();
                    let blank_before = newlines >= 2;
                    self.pending.push(Comment {
                        text: self.src[i..end].trim_end().to_string(),
                        trailing,
                        blank_before,
                    });
                    newlines = 0;
                    i = end;
                }
                _ if self.src[i..].starts_with('\u{FEFF}') => i += '\u{FEFF}'.len_utf8(),
                _ => break,
            }
        }
        // Blank lines after the last comment count for the token; before it, for the comment.
        self.gap_blank |= newlines >= 2;
        self.cursor = i;
    }

    fn flush_comments(&mut self) {
        for c in std::mem::take(&mut self.pending) {
            if c.trailing && !self.out.is_empty() && !self.out.ends_with('\n') {
                self.out.push(' ');
                self.out.push_str(&c.text);
                self.want_newline = true;
                self.want_space = false;
                continue;
            }
            if c.blank_before && !self.out.is_empty() {
                self.want_blank = true;
            }
            self.want_newline = true;
            self.line_start();
            self.out.push_str(&c.text);
            self.want_newline = true;
        }
    }

    /// Apply a requested line break and indent.
    fn line_start(&mut self) {
        if self.want_newline || self.want_blank {
            if !self.out.is_empty() {
                if !self.out.ends_with('\n') {
                    self.out.push('\n');
                }
                if self.want_blank && !self.out.ends_with("\n\n") {
                    self.out.push('\n');
                }
            }
            for _ in 0..self.indent {
                self.out.push_str(INDENT);
            }
        } else if self.want_space && !self.out.is_empty() {
            self.out.push(' ');
        }
        self.want_newline = false;
        self.want_blank = false;
        self.want_space = false;
    }

    /// Emit a token that is in the source at the cursor (after whitespace and comments).
    fn token(&mut self, text: &str) {
        self.scan_gap();
        debug_assert!(self.src[self.cursor..].starts_with(text), "expected {text:?} at {}", self.cursor);
        if self.src[self.cursor..].starts_with(text) {
            self.cursor += text.len();
        }
        self.emit(text);
    }

    /// Emit a token that the canonical form has whether or not the source had it (a trailing comma).
    fn optional_token(&mut self, text: &str) {
        self.skip_optional(text);
        self.emit(text);
    }

    /// Consume a token the canonical form drops (a separator comma), keeping comments around it.
    fn skip_optional(&mut self, text: &str) {
        self.scan_gap();
        if self.src[self.cursor..].starts_with(text) {
            self.cursor += text.len();
        }
    }

    fn emit(&mut self, text: &str) {
        let had_comments = !self.pending.is_empty();
        self.flush_comments();
        if had_comments && self.gap_blank && self.want_newline {
            self.want_blank = true;
        }
        self.gap_blank = false;
        self.line_start();
        self.out.push_str(text);
    }

    fn space(&mut self) {
        self.want_space = true;
    }

    /// A line break before the next token, keeping one blank line if the source had one there.
    fn newline(&mut self) {
        self.scan_gap();
        self.want_newline = true;
        if self.gap_blank && self.pending.is_empty() {
            self.want_blank = true;
        }
    }

    /// Whether the source breaks the line between the cursor and the next token.
    fn breaks_before_next(&self) -> bool {
        let rest = &self.src[self.cursor..];
        let gap_end = rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len());
        rest[..gap_end].contains('\n') || rest[gap_end..].starts_with("//")
    }

    fn finish(mut self) -> String {
        self.scan_gap();
        self.want_newline = true;
        self.flush_comments();
        let mut out = self.out.trim_end().to_string();
        if !out.is_empty() {
            out.push('\n');
        }
        out
    }

    // ---- items ---------------------------------------------------------------------------------

    fn file(&mut self, root: Pair<'_, Rule>) {
        let mut prev: Option<Rule> = None;
        for item in root.into_inner() {
            let rule = item.as_rule();
            if rule == Rule::EOI {
                break;
            }
            if let Some(prev) = prev {
                self.newline();
                // Items are separated by a blank line; a run of imports may stay together.
                if !(prev == Rule::import && rule == Rule::import) {
                    self.want_blank = true;
                }
            }
            match rule {
                Rule::import => {
                    self.token("import");
                    self.space();
                    let s = item.into_inner().next().unwrap();
                    self.token(s.as_str());
                }
                Rule::block_def => self.def("block", item),
                Rule::space_def => self.def("space", item),
                Rule::pin_def => self.pin(item),
                r => unreachable!("item rule {r:?}"),
            }
            prev = Some(rule);
        }
    }

    fn def(&mut self, keyword: &str, pair: Pair<'_, Rule>) {
        self.token(keyword);
        let mut inner = pair.into_inner();
        self.space();
        self.token(inner.next().unwrap().as_str());
        self.bracketed("(", ")", inner.next().unwrap().into_inner(), Self::param);
        self.space();
        self.body(inner.next().unwrap());
    }

    fn param(&mut self, pair: Pair<'_, Rule>) {
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::ident => self.token(part.as_str()),
                Rule::type_name => {
                    self.token(":");
                    self.space();
                    self.token(part.as_str());
                }
                _ => {
                    self.space();
                    self.token("=");
                    self.space();
                    self.expr(part);
                }
            }
        }
    }

    fn pin(&mut self, pair: Pair<'_, Rule>) {
        self.token("pin");
        self.space();
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::ident => self.token(part.as_str()),
                Rule::call_args => self.bracketed("(", ")", part.into_inner(), Self::arg),
                Rule::string => {
                    self.space();
                    self.token("from");
                    self.space();
                    self.token(part.as_str());
                    self.space();
                    self.open_block();
                }
                Rule::pin_entry => {
                    self.newline();
                    let mut e = part.into_inner();
                    self.token(e.next().unwrap().as_str());
                    self.space();
                    self.token("=");
                    self.space();
                    self.token(e.next().unwrap().as_str());
                }
                r => unreachable!("pin rule {r:?}"),
            }
        }
        self.close_block();
    }

    /// `{`, one level in. Pair with [`close_block`](Self::close_block).
    fn open_block(&mut self) {
        self.token("{");
        self.indent += 1;
    }

    /// Comments before the `}` stay inside the block; an empty block prints as `{}`.
    fn close_block(&mut self) {
        self.scan_gap();
        let empty = self.out.ends_with('{') && self.pending.is_empty();
        if !self.pending.is_empty() {
            self.want_newline = true;
            self.flush_comments();
        }
        self.indent -= 1;
        self.gap_blank = false;
        if !empty {
            self.want_newline = true;
        }
        self.token("}");
    }

    fn body(&mut self, pair: Pair<'_, Rule>) {
        self.open_block();
        for stmt in pair.into_inner() {
            self.newline();
            self.stmt(stmt);
        }
        self.close_block();
    }

    // ---- statements ----------------------------------------------------------------------------

    fn stmt(&mut self, pair: Pair<'_, Rule>) {
        match pair.as_rule() {
            Rule::let_stmt => {
                let mut inner = pair.into_inner();
                self.token(inner.next().unwrap().as_str());
                self.space();
                self.token("=");
                self.space();
                self.expr(inner.next().unwrap());
            }
            Rule::return_stmt => {
                self.token("return");
                self.space();
                self.expr(pair.into_inner().next().unwrap());
            }
            Rule::repeat_stmt => {
                self.token("repeat");
                for part in pair.into_inner() {
                    self.space();
                    match part.as_rule() {
                        Rule::loop_var | Rule::in_kw => self.token(part.as_str()),
                        Rule::label => self.label(part),
                        Rule::body => self.body(part),
                        _ => self.expr(part),
                    }
                }
            }
            r => unreachable!("statement rule {r:?}"),
        }
    }

    fn label(&mut self, pair: Pair<'_, Rule>) {
        self.token("as");
        self.space();
        self.token(pair.into_inner().next().unwrap().as_str());
    }

    // ---- expressions ---------------------------------------------------------------------------

    fn expr(&mut self, pair: Pair<'_, Rule>) {
        match pair.as_rule() {
            Rule::expr => self.expr(pair.into_inner().next().unwrap()),
            Rule::pipe => self.pipe(pair),
            Rule::logic_or | Rule::logic_and | Rule::comparison | Rule::sum | Rule::product => {
                for (i, part) in pair.into_inner().enumerate() {
                    if i % 2 == 1 {
                        self.space();
                        self.token(part.as_str());
                        self.space();
                    } else {
                        self.expr(part);
                    }
                }
            }
            Rule::unary => {
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::prefix_op => {
                            self.token(part.as_str());
                            if part.as_str() == "not" {
                                self.space();
                            }
                        }
                        Rule::expr => {
                            self.token("(");
                            self.expr(part);
                            self.token(")");
                        }
                        _ => self.expr(part),
                    }
                }
            }
            Rule::call => {
                let mut inner = pair.into_inner();
                self.token(inner.next().unwrap().as_str());
                self.bracketed("(", ")", inner.next().unwrap().into_inner(), Self::arg);
                if let Some(label) = inner.next() {
                    self.space();
                    self.label(label);
                }
            }
            Rule::list => self.bracketed("[", "]", pair.into_inner(), Self::expr),
            Rule::choice_expr => self.choice(pair),
            Rule::if_expr => self.if_expr(pair),
            Rule::block_expr => self.block_expr(pair),
            // Literals and names print as written.
            _ => self.token(pair.as_str()),
        }
    }

    fn pipe(&mut self, pair: Pair<'_, Rule>) {
        let mut inner = pair.into_inner();
        self.expr(inner.next().unwrap());
        let mut continued = false;
        while let Some(op) = inner.next() {
            let broken = self.breaks_before_next();
            self.scan_gap();
            if broken || !self.pending.is_empty() {
                if !continued {
                    self.indent += 1;
                    continued = true;
                }
                self.want_newline = true;
            } else {
                self.space();
            }
            self.token(op.as_str());
            self.space();
            let mut stage = inner.next().unwrap().into_inner();
            self.token(stage.next().unwrap().as_str());
            for part in stage {
                match part.as_rule() {
                    Rule::call_args => self.bracketed("(", ")", part.into_inner(), Self::arg),
                    _ => {
                        self.space();
                        self.label(part);
                    }
                }
            }
        }
        if continued {
            self.indent -= 1;
        }
    }

    fn arg(&mut self, pair: Pair<'_, Rule>) {
        for part in pair.into_inner() {
            if part.as_rule() == Rule::arg_name {
                self.token(part.as_str());
                self.token(":");
                self.space();
            } else {
                self.expr(part);
            }
        }
    }

    /// A bracketed, comma-separated list: on one line, or one entry per line with a trailing comma
    /// when the source breaks the line after the opening bracket.
    fn bracketed<'i>(
        &mut self,
        open: &str,
        close: &str,
        entries: impl Iterator<Item = Pair<'i, Rule>>,
        mut entry: impl FnMut(&mut Self, Pair<'i, Rule>),
    ) {
        self.token(open);
        let entries: Vec<_> = entries.collect();
        let multiline = !entries.is_empty() && self.breaks_before_next();
        if multiline {
            self.indent += 1;
        }
        let n = entries.len();
        for (i, e) in entries.into_iter().enumerate() {
            if multiline {
                self.newline();
            } else if i > 0 {
                self.space();
            }
            entry(self, e);
            if multiline {
                self.optional_token(",");
            } else if i + 1 < n {
                self.token(",");
            } else {
                self.skip_optional(",");
            }
        }
        if multiline {
            self.scan_gap();
            if !self.pending.is_empty() {
                self.want_newline = true;
                self.flush_comments();
            }
            self.indent -= 1;
            self.want_newline = true;
            self.gap_blank = false;
        }
        self.token(close);
    }

    fn choice(&mut self, pair: Pair<'_, Rule>) {
        self.token("choice");
        self.space();
        let mut inner = pair.into_inner().peekable();
        self.token(inner.next().unwrap().as_str());
        if inner.peek().is_some_and(|p| p.as_rule() == Rule::shared) {
            inner.next();
            self.space();
            self.token("shared");
        }
        self.space();
        // A short choice written on one line stays there: `choice bits { b1 => 1, b32 => 32 }`.
        self.token("{");
        let inline = !self.breaks_before_next();
        self.indent += 1;
        let alts: Vec<_> = inner.collect();
        let n = alts.len();
        for (i, alt) in alts.into_iter().enumerate() {
            if inline {
                self.space();
            } else {
                self.newline();
            }
            let mut parts = alt.into_inner();
            self.token(parts.next().unwrap().as_str());
            self.space();
            self.token("=>");
            self.space();
            self.expr(parts.next().unwrap());
            if let Some(cost) = parts.next() {
                self.space();
                self.token("cost");
                self.space();
                self.token(cost.into_inner().next().unwrap().as_str());
            }
            if inline && i + 1 < n {
                self.optional_token(",");
            } else {
                self.skip_optional(",");
            }
        }
        self.scan_gap();
        if inline && self.pending.is_empty() {
            self.indent -= 1;
            self.space();
            self.token("}");
        } else {
            self.close_block();
        }
    }

    fn if_expr(&mut self, pair: Pair<'_, Rule>) {
        let mut inner = pair.into_inner();
        self.token("if");
        self.space();
        self.expr(inner.next().unwrap());
        self.space();
        self.block_expr(inner.next().unwrap());
        self.space();
        self.token("else");
        self.space();
        let rest = inner.next().unwrap();
        match rest.as_rule() {
            Rule::if_expr => self.if_expr(rest),
            _ => self.block_expr(rest),
        }
    }

    /// `{ value }` on one line when it is a bare value written on one line; otherwise a block.
    fn block_expr(&mut self, pair: Pair<'_, Rule>) {
        let parts: Vec<_> = pair.into_inner().collect();
        self.token("{");
        let inline = parts.len() == 1 && !self.breaks_before_next();
        if inline {
            self.space();
            self.expr(parts.into_iter().next().unwrap());
            self.scan_gap();
            if self.pending.is_empty() {
                self.space();
                self.token("}");
                return;
            }
            self.indent += 1;
        } else {
            self.indent += 1;
            let n = parts.len();
            for (i, p) in parts.into_iter().enumerate() {
                self.newline();
                if i + 1 < n { self.stmt(p) } else { self.expr(p) }
            }
        }
        self.close_block();
    }
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn spacing_and_comments() {
        let src = "// head\nimport \"std/layers.lnas\"\nspace s(x:tensor=[1,8,8],classes:int=10){ // why\n  y=x|>conv(8,kernel:3,)\n\n\n  // last\n  return y\n    |>global_avgpool|>dense(classes) // end\n}\n";
        let want = "// head\nimport \"std/layers.lnas\"\n\nspace s(x: tensor = [1, 8, 8], classes: int = 10) { // why\n    y = x |> conv(8, kernel: 3)\n\n    // last\n    return y\n        |> global_avgpool |> dense(classes) // end\n}\n";
        let got = format(src).unwrap();
        assert_eq!(got, want);
        assert_eq!(format(&got).unwrap(), got);
    }

    #[test]
    fn multiline_brackets_choices_and_blocks() {
        let src = "block b(\nx, g: int) {\n  return choice c shared {a => x b => -x cost 2 }\n  y = choice v {\n a => 1, b => 2,\n}\n}\nblock d(x) { return if 1 < 2 { x } else { y = x\n y } }";
        let want = "block b(\n    x,\n    g: int,\n) {\n    return choice c shared { a => x, b => -x cost 2 }\n    y = choice v {\n        a => 1\n        b => 2\n    }\n}\n\nblock d(x) {\n    return if 1 < 2 { x } else {\n        y = x\n        y\n    }\n}\n";
        let got = format(src).unwrap();
        assert_eq!(got, want);
        assert_eq!(format(&got).unwrap(), got);
    }
}
