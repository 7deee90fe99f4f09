//! The standard library: blocks written in `.lnas` itself, shipped inside the binary so that
//! `import "std/melius.lnas"` works wherever `lightnasc` runs. The sources live in `specs/std/`.

const FILES: &[(&str, &str)] = &[
    ("layers.lnas", include_str!("../../specs/std/layers.lnas")),
    ("melius.lnas", include_str!("../../specs/std/melius.lnas")),
    ("resnet.lnas", include_str!("../../specs/std/resnet.lnas")),
];

/// The text of `std/NAME`.
pub fn get(name: &str) -> Option<&'static str> {
    FILES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

pub fn names() -> Vec<String> {
    FILES.iter().map(|(n, _)| format!("std/{n}")).collect()
}
