; Highlights for .lnas. The first pattern that captures a node wins (tree-sitter-highlight,
; Helix, and the test in tests/tree_sitter.rs), so specific patterns come before general ones.

(comment) @comment
(import path: (string) @string.special.path)
(string) @string
(integer) @number
(float) @number.float
(boolean) @boolean

[
  "import"
  "block"
  "space"
  "pin"
  "from"
  "as"
  "cost"
] @keyword
(shared) @keyword

"return" @keyword.return
"repeat" @keyword.repeat
"in" @keyword.repeat
"choice" @keyword.conditional
["if" "else"] @keyword.conditional
["and" "or" "not"] @keyword.operator

[
  "|>" "=>" "=" "==" "!=" "<=" ">=" "<" ">" "+" "-" "*" "/" "%"
] @operator

["(" ")" "[" "]" "{" "}"] @punctuation.bracket
["," ":"] @punctuation.delimiter

(block_definition name: (identifier) @function)
(space_definition name: (identifier) @function)
(pin_definition name: (identifier) @function)
(call function: (identifier) @function.call)
(pipe_stage function: (identifier) @function.call)
(parameter name: (identifier) @variable.parameter)
(type) @type
(argument name: (identifier) @property)
(choice_expression name: (identifier) @label)
(alternative name: (identifier) @constant)
(label name: (label_name) @label)
(pin_entry choice: (choice_path) @label)
(pin_entry option: (identifier) @constant)
(identifier) @variable
