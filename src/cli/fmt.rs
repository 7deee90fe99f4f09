//! `lightnasc fmt`: rewrite `.lnas` files in their canonical layout, or (`--check`) report the ones
//! that are not. A file that does not parse is left untouched.

use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;

use lightnasc::front::fmt::format;
use lightnasc::front::source::SourceDb;

use super::{FmtArgs, emit, use_color};

pub fn run(args: &FmtArgs) -> ExitCode {
    // No files, or `-`: a filter from stdin to stdout, as editors call formatters.
    if args.files.is_empty() || args.files.iter().any(|f| f.as_os_str() == "-") {
        if args.files.len() > 1 {
            return super::fail("`-` (standard input) cannot be mixed with file names");
        }
        let mut text = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut text) {
            return super::fail(format!("cannot read standard input: {e}"));
        }
        return match format_or_report("<stdin>", &text) {
            Some(out) if args.check && out != text => {
                emit(&diff("<stdin>", &text, &out));
                ExitCode::from(1)
            }
            Some(_) if args.check => ExitCode::SUCCESS,
            Some(out) => {
                emit(&out);
                ExitCode::SUCCESS
            }
            None => ExitCode::from(1),
        };
    }
    let mut failed = false;
    for path in &args.files {
        failed |= !one_file(path, args.check);
    }
    if failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// Format or check one file; false when it is unreadable, does not parse, or (with --check) is
/// not formatted.
fn one_file(path: &Path, check: bool) -> bool {
    let name = path.display().to_string();
    let text = match std::fs::read(path).map(String::from_utf8) {
        Ok(Ok(t)) => t,
        Ok(Err(_)) => {
            eprintln!("error: `{name}` is not UTF-8 text; left untouched");
            return false;
        }
        Err(e) => {
            eprintln!("error: cannot read `{name}`: {e}");
            return false;
        }
    };
    let Some(out) = format_or_report(&name, &text) else { return false };
    if out == text {
        return true;
    }
    if check {
        emit(&diff(&name, &text, &out));
        return false;
    }
    match lightnasc::util::write_atomic(path, out.as_bytes()) {
        Ok(()) => {
            eprintln!("formatted {name}");
            true
        }
        Err(e) => {
            eprintln!("error: cannot write `{name}`: {e}");
            false
        }
    }
}

fn format_or_report(name: &str, text: &str) -> Option<String> {
    match format(text) {
        Ok(out) => Some(out),
        Err(d) => {
            let mut db = SourceDb::new();
            db.add(name, None, text.to_string());
            eprintln!("{}", d.render(&db, use_color(super::Color::Auto)));
            eprintln!("error: `{name}` does not parse; left untouched");
            None
        }
    }
}

fn diff(name: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(name, &format!("{name} (formatted)"))
        .to_string()
}
