//! The LSP features, one file each (as rust-analyzer keeps them): each takes the document's
//! analysis and answers one request.

mod completion;
mod diagnostics;
mod formatting;
mod hover;
mod navigation;
mod semantic_tokens;

pub use completion::completion;
pub use diagnostics::diagnostics;
pub use formatting::formatting;
pub use hover::hover;
pub use navigation::{definition, references, symbols};
pub use semantic_tokens::{TOKEN_MODIFIERS, TOKEN_TYPES, semantic_tokens};
