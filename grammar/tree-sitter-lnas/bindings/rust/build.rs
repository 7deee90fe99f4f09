fn main() {
    let src = std::path::Path::new("src");
    cc::Build::new().include(src).file(src.join("parser.c")).warnings(false).compile("tree-sitter-lnas");
    println!("cargo:rerun-if-changed=src/parser.c");
}
