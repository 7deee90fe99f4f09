/**
 * tree-sitter grammar for the .lnas search-space language (lightnasc).
 *
 * It mirrors grammar/lnas.pest, the compiler's own grammar; the tests parse every shipped spec
 * with both. Regenerate src/ after a change with `tree-sitter generate --abi 14` (ABI 14 keeps
 * Neovim 0.7+ and Helix able to load it) and commit the result.
 */

const PREC = {
  pipe: 1,
  or: 2,
  and: 3,
  compare: 4,
  sum: 5,
  product: 6,
  unary: 7,
  call: 8,
};

const commaSep = (rule) => optional(seq(rule, repeat(seq(',', rule)), optional(',')));

module.exports = grammar({
  name: 'lnas',

  extras: ($) => [/\s/, '\uFEFF', $.comment],

  word: ($) => $.identifier,

  rules: {
    source_file: ($) => repeat($._item),

    _item: ($) => choice($.import, $.block_definition, $.space_definition, $.pin_definition),

    // ---- items ----------------------------------------------------------------------------------

    import: ($) => seq('import', field('path', $.string)),

    block_definition: ($) =>
      seq('block', field('name', $.identifier), field('parameters', $.parameters), field('body', $.body)),

    space_definition: ($) =>
      seq('space', field('name', $.identifier), field('parameters', $.parameters), field('body', $.body)),

    parameters: ($) => seq('(', commaSep($.parameter), ')'),

    parameter: ($) =>
      seq(
        field('name', $.identifier),
        optional(seq(':', field('type', $.type))),
        optional(seq('=', field('default', $._expression))),
      ),

    type: ($) => $.identifier,

    body: ($) => seq('{', repeat($._statement), '}'),

    pin_definition: ($) =>
      seq(
        'pin',
        field('name', $.identifier),
        optional(field('arguments', $.arguments)),
        'from',
        field('spec', $.string),
        '{',
        repeat($.pin_entry),
        '}',
      ),

    pin_entry: ($) => seq(field('choice', $.choice_path), '=', field('option', $.identifier)),

    // A dotted choice name (`stage1.block2.dense.keep`); its parts may be keywords.
    choice_path: ($) => /[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*/,

    // ---- statements -----------------------------------------------------------------------------

    _statement: ($) => choice($.let_statement, $.repeat_statement, $.return_statement),

    let_statement: ($) => seq(field('name', $.identifier), '=', field('value', $._expression)),

    repeat_statement: ($) =>
      seq(
        'repeat',
        optional(seq(field('variable', $.identifier), 'in')),
        field('count', $._expression),
        optional($.label),
        field('body', $.body),
      ),

    return_statement: ($) => seq('return', field('value', $._expression)),

    // A label names a scope (`as stage1`); keywords are fine there.
    label: ($) => seq('as', field('name', alias($.choice_path, $.label_name))),

    // ---- expressions ----------------------------------------------------------------------------

    _expression: ($) =>
      choice(
        $.pipe_expression,
        $.binary_expression,
        $.unary_expression,
        $.choice_expression,
        $.if_expression,
        $.block_expression,
        $.list,
        $.float,
        $.integer,
        $.string,
        $.boolean,
        $.call,
        $.identifier,
        $.parenthesized_expression,
      ),

    pipe_expression: ($) => prec.left(PREC.pipe, seq(field('input', $._expression), '|>', field('stage', $.pipe_stage))),

    pipe_stage: ($) =>
      prec.right(seq(field('function', $.identifier), optional(field('arguments', $.arguments)), optional($.label))),

    binary_expression: ($) =>
      choice(
        prec.left(PREC.or, seq(field('left', $._expression), field('operator', 'or'), field('right', $._expression))),
        prec.left(PREC.and, seq(field('left', $._expression), field('operator', 'and'), field('right', $._expression))),
        // The compiler rejects `a < b < c`; here it parses (left) and `lightnasc check` reports it.
        prec.left(
          PREC.compare,
          seq(
            field('left', $._expression),
            field('operator', choice('==', '!=', '<=', '>=', '<', '>')),
            field('right', $._expression),
          ),
        ),
        prec.left(PREC.sum, seq(field('left', $._expression), field('operator', choice('+', '-')), field('right', $._expression))),
        prec.left(
          PREC.product,
          seq(field('left', $._expression), field('operator', choice('*', '/', '%')), field('right', $._expression)),
        ),
      ),

    unary_expression: ($) => prec(PREC.unary, seq(field('operator', choice('-', 'not')), field('operand', $._expression))),

    parenthesized_expression: ($) => seq('(', $._expression, ')'),

    // As in the compiler's PEG: a name followed by `(` is always a call.
    call: ($) => prec.right(PREC.call, seq(field('function', $.identifier), field('arguments', $.arguments), optional($.label))),

    arguments: ($) => seq('(', commaSep($.argument), ')'),

    argument: ($) => seq(optional(seq(field('name', $.identifier), ':')), field('value', $._expression)),

    list: ($) => seq('[', commaSep($._expression), ']'),

    block_expression: ($) => seq('{', repeat($._statement), field('value', $._expression), '}'),

    if_expression: ($) =>
      seq(
        'if',
        field('condition', $._expression),
        field('consequence', $.block_expression),
        'else',
        field('alternative', choice($.if_expression, $.block_expression)),
      ),

    choice_expression: ($) =>
      seq(
        'choice',
        field('name', $.identifier),
        optional($.shared),
        '{',
        $.alternative,
        repeat(seq(optional(','), $.alternative)),
        optional(','),
        '}',
      ),

    shared: ($) => 'shared',

    alternative: ($) =>
      seq(
        field('name', $.identifier),
        '=>',
        field('value', $._expression),
        optional(seq('cost', field('cost', choice($.float, $.integer)))),
      ),

    // ---- tokens ---------------------------------------------------------------------------------

    identifier: ($) => /[A-Za-z_][A-Za-z0-9_]*/,
    integer: ($) => /[0-9]+/,
    float: ($) => /[0-9]+(\.[0-9]+([eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)/,
    string: ($) => token(seq('"', repeat(choice(/[^"\\\n]/, /\\["\\nt]/)), '"')),
    boolean: ($) => choice('true', 'false'),
    comment: ($) => token(seq('//', /[^\n]*/)),
  },
});
