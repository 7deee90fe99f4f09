//! Running Graphviz's `dot` to turn DOT into SVG, PNG or PDF.

use std::io::Write as _;
use std::process::{Command, Stdio};

use super::BackError;

/// What `dot` made, and what it warned of on success (a bitmap too large for cairo is scaled
/// down, which the user must hear of: the drawing is unreadable).
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub warnings: Vec<String>,
}

/// `dot -T<format>` on `dot_text`: the rendered bytes, or a message saying what went wrong
/// (Graphviz missing, or its own error output).
pub fn render(dot_text: &str, format: &str) -> Result<Rendered, BackError> {
    let mut child = Command::new("dot")
        .arg(format!("-T{format}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                "Graphviz's `dot` was not found: install Graphviz (`apt-get install graphviz`), \
                                             or use `--format dot` and render the file elsewhere"
                    .to_string()
            }
            _ => format!("cannot run Graphviz's `dot`: {e}"),
        })
        .map_err(BackError::Graphviz)?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let text = dot_text.to_string();
    // Write from a thread: `dot` may fill its output pipe before it has read all of its input.
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let out = child.wait_with_output().map_err(|e| BackError::Graphviz(format!("Graphviz's `dot`: {e}")))?;
    let _ = writer.join();
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(BackError::Graphviz(format!("Graphviz's `dot -T{format}` failed: {why}")));
    }
    let warnings = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| l.trim().trim_start_matches("Warning:").trim_start_matches("dot:").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    Ok(Rendered { bytes: out.stdout, warnings })
}
