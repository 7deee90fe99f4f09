; Indent inside braces and brackets; the closing bracket goes back out.

[
  (body)
  (block_expression)
  (choice_expression)
  (pin_definition)
  (parameters)
  (arguments)
  (list)
] @indent.begin

["}" ")" "]"] @indent.branch @indent.end
