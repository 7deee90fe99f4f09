[
  (body)
  (block_expression)
  (choice_expression)
  (pin_definition)
  (parameters)
  (arguments)
  (list)
] @fold
