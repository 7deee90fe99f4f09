; Scopes and definitions, for Neovim's and Zed's local-variable highlighting and references.

(block_definition) @local.scope
(space_definition) @local.scope
(block_expression) @local.scope
(repeat_statement) @local.scope

(parameter name: (identifier) @local.definition.parameter)
(let_statement name: (identifier) @local.definition.var)
(repeat_statement variable: (identifier) @local.definition.var)

(identifier) @local.reference
