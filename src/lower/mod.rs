//! Lowering: evaluate a space with its arguments and instantiate every block into the graph IR.
//!
//! The language is evaluated, not just translated: widths are arithmetic on inferred shapes
//! (`channels(x)`), `repeat` unrolls, and a value choice (`bits = choice bits {...}`) instantiates
//! the rest of its block once per option. Shapes are inferred as each node is created. Errors are
//! collected as diagnostics; a failed expression yields `Value::Poison`, which silences follow-on
//! errors, so one run reports every independent problem.

pub mod builtins;
mod calls;
mod choices;
mod expr;
pub mod resolve;
mod value;

use std::collections::HashMap;

use petgraph::stable_graph::{NodeIndex, StableGraph};
use petgraph::visit::{Dfs, NodeIndexable, Reversed};

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::front::SourceTree;
use crate::front::ast::{self, BinOp, BlockDef, Expr, ExprKind, Stmt, Type, UnOp};
use crate::front::source::Span;
use crate::ir::{self, Alt, Choice, ChoiceId, ChoiceKind, ChoiceOption, Graph, Node, Op, OptionIx, Port, Shape};
pub use value::Value;

/// Most nodes a space may instantiate; a runaway `repeat` stops here with a diagnostic.
pub const MAX_NODES: usize = 200_000;
/// Deepest block-call nesting.
pub const MAX_CALL_DEPTH: usize = 48;

/// Arguments of a space given from outside the spec (command line or a pin's header).
#[derive(Clone, Debug, Default)]
pub struct SpaceArgs {
    /// Shape of the input tensor, overriding the default of the space's tensor parameter.
    pub input: Option<Vec<u32>>,
    /// Number of classes (the space's `classes` parameter).
    pub classes: Option<i64>,
    /// Other parameters by name.
    pub other: Vec<(String, Value)>,
}

/// Lower the space `space` of `prog`. Returns `None` if any diagnostic was reported.
pub fn lower(prog: &SourceTree, space: &BlockDef, args: &SpaceArgs, diags: &mut Diagnostics) -> Option<Graph> {
    let before = diags.len();
    resolve::check(prog, diags);
    if diags.len() > before {
        return None;
    }
    let mut l = Lowerer {
        prog,
        nodes: StableGraph::new(),
        choices: vec![],
        diags,
        frames: vec![Frame::root()],
        alt: None,
        calls: vec![],
        shared_weights: HashMap::new(),
        budget_reported: false,
        instances: vec![],
    };
    let graph = l.space(space, args);
    if l.diags.len() > before { None } else { graph }
}

struct Frame {
    segment: String,
    /// Left out of weight keys: the choice and option segments of a `shared` choice, so that the
    /// alternatives' layers at the same place get the same key.
    strip_for_weights: bool,
    used: HashMap<String, u32>,
}

impl Frame {
    fn root() -> Self {
        Frame { segment: String::new(), strip_for_weights: false, used: HashMap::new() }
    }
}

type Env = HashMap<String, Value>;

struct Lowerer<'a> {
    prog: &'a SourceTree,
    nodes: StableGraph<Node, Port>,
    choices: Vec<Choice>,
    diags: &'a mut Diagnostics,
    frames: Vec<Frame>,
    alt: Option<Alt>,
    /// Blocks being instantiated, outermost first, with where each was called from.
    calls: Vec<(String, Span)>,
    /// Signature and first use of every shared weight key, to check the sharers agree.
    shared_weights: HashMap<String, (WeightSignature, Span)>,
    budget_reported: bool,
    instances: Vec<ir::Instance>,
}

/// A parameter as the argument binder sees it, for blocks and built-in layers alike.
struct Formal<'a> {
    name: &'a str,
    ty: Type,
    required: bool,
    /// Where a block declares it (built-in layers have no source).
    decl: Option<Span>,
}

/// Arguments matched to parameters: a slot per parameter (value and where it was written), and
/// the further tensors of a variadic layer (`concat`).
struct Bound {
    slots: Vec<Option<(Value, Span)>>,
    extra: Vec<NodeIndex>,
}

/// What evaluating a choice's options gave.
enum Evaluated {
    /// Sub-graphs, merged: the `Select` node's output.
    Tensor(Value),
    /// Values (a value choice), not yet forked.
    Values(ChoiceId, Vec<Value>),
    /// An option failed (already reported).
    Failed,
}

/// What a body evaluation ended with.
enum Flow {
    Return(Value),
    Fallthrough,
}

impl Lowerer<'_> {
    fn error(&mut self, mut d: Diagnostic) -> Value {
        // An error inside a block names the calls that led there (innermost first).
        for (name, site) in self.calls.iter().rev().take(4) {
            d = d.related(*site, format!("in `{name}`, instantiated here"));
        }
        self.diags.push(d);
        Value::Poison
    }

    // ---- names ---------------------------------------------------------------------------------

    /// A name unique in the current scope: `base`, then `base_2`, `base_3`, ...
    fn unique(&mut self, base: &str) -> String {
        let f = self.frames.last_mut().unwrap();
        let n = f.used.entry(base.to_string()).or_insert(0);
        *n += 1;
        if *n == 1 { base.to_string() } else { format!("{base}_{n}") }
    }

    fn path(&self, local: &str, for_weights: bool) -> String {
        let mut parts: Vec<&str> = self
            .frames
            .iter()
            .filter(|f| !(f.segment.is_empty() || for_weights && f.strip_for_weights))
            .map(|f| f.segment.as_str())
            .collect();
        parts.push(local);
        parts.join(".")
    }

    fn push_frame(&mut self, segment: String, strip_for_weights: bool) {
        self.frames.push(Frame { segment, strip_for_weights, used: HashMap::new() });
    }

    fn pop_frame(&mut self) {
        self.frames.pop();
    }

    // ---- graph building ------------------------------------------------------------------------

    fn add_node(&mut self, op: Op, inputs: &[NodeIndex], local: &str, span: Span) -> Value {
        if self.nodes.node_count() >= MAX_NODES {
            if !self.budget_reported {
                self.budget_reported = true;
                self.diags.push(
                    Diagnostic::new(Code::Limit, span, format!("the space instantiates more than {MAX_NODES} layers"))
                        .label("while instantiating this")
                        .hint("check the `repeat` counts; a real network has thousands of layers, not millions"),
                );
            }
            return Value::Poison;
        }
        let shapes: Vec<Shape> = inputs.iter().map(|&i| self.nodes[i].shape).collect();
        let shape = match ir::shape::infer(&op, &shapes) {
            Ok(s) => s,
            Err(e) => {
                let got = shapes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
                return self.error(
                    Diagnostic::new(Code::Shape, span, e.message)
                        .label(format!("`{}` applied to {got}", op.name()))
                        .hint(e.hint),
                );
            }
        };
        let name = self.unique(local);
        let full = self.path(&name, false);
        let weights = match shapes.first().and_then(|&s| op.weight_shape(s)) {
            Some(_) if op.has_shareable_weights() => Some(self.path(&name, true)),
            Some(_) => Some(full.clone()),
            None => None,
        };
        // Inside a `shared` choice the key leaves out the option, so sharers meet here.
        if let (Some(key), Some(&input)) = (&weights, shapes.first())
            && key != &full
        {
            let sig = WeightSignature::of(&op, input);
            match self.shared_weights.get(key) {
                Some((first, first_span)) if *first != sig => {
                    let (first, first_span) = (first.clone(), *first_span);
                    return self.error(
                        Diagnostic::new(Code::Choice, span, format!("`{full}` cannot share the weights of `{key}`"))
                            .label(format!("weights {sig}, but the other option's are {first}"))
                            .related(first_span, "the other option's layer")
                            .hint("layers at the same place in each option of a `shared` choice need the same weight shapes; or drop `shared`"),
                    );
                }
                Some(_) => {}
                None => {
                    self.shared_weights.insert(key.clone(), (sig, span));
                }
            }
        }
        let node = Node { name: full, op, shape, alt: self.alt, weights, span: Some(span) };
        let n = self.nodes.add_node(node);
        for (port, &i) in inputs.iter().enumerate() {
            self.nodes.add_edge(i, n, Port(port as u32));
        }
        Value::Tensor(n)
    }

    // ---- the space -----------------------------------------------------------------------------

    fn space(&mut self, space: &BlockDef, args: &SpaceArgs) -> Option<Graph> {
        let mut env = Env::new();
        let mut input: Option<NodeIndex> = None;
        let mut classes = None;
        for p in &space.params {
            let value = if p.ty == Type::Tensor {
                if input.is_some() {
                    self.error(
                        Diagnostic::new(Code::Type, p.name.span, "a space has exactly one tensor parameter: its input")
                            .hint("make the other parameters int, float, bool or str"),
                    );
                    continue;
                }
                let n = self.input_node(p, args.input.as_deref(), &env)?;
                input = Some(n);
                Value::Tensor(n)
            } else {
                let given = if let (true, Some(c)) = (p.name.name == "classes", args.classes) {
                    Some(Value::Int(c))
                } else {
                    args.other.iter().find(|(k, _)| *k == p.name.name).map(|(_, v)| v.clone())
                };
                let v = match (given, &p.default) {
                    (Some(v), _) => v,
                    (None, Some(e)) => self.eval(e, &env),
                    (None, None) => self.error(
                        Diagnostic::new(
                            Code::Arity,
                            p.name.span,
                            format!("space parameter `{}` has no default", p.name.name),
                        )
                        .hint("give it a default in the spec"),
                    ),
                };
                let v = self.coerce(v, p.ty, p.default.as_ref().map_or(p.name.span, |e| e.span), &p.name.name);
                if p.name.name == "classes" {
                    classes = v.as_int();
                }
                v
            };
            env.insert(p.name.name.clone(), value);
        }
        let Some(input) = input else {
            self.error(
                Diagnostic::new(Code::Arity, space.name.span, format!("space `{}` has no input", space.name.name))
                    .hint("declare the input as the first parameter: `space s(x: tensor = [3, 32, 32], classes: int = 10)`"),
            );
            return None;
        };
        let out = self.body(&space.body, env);
        let out = match out {
            Value::Tensor(t) => t,
            Value::Poison => return None,
            other => {
                let at = return_span(&space.body).unwrap_or(space.name.span);
                self.error(
                    Diagnostic::new(Code::Type, at, format!("a space must return a tensor, not {}", other.type_name()))
                        .hint("return the network's output (the logits)"),
                );
                return None;
            }
        };
        let output = self.nodes.add_node(Node {
            name: "output".into(),
            op: Op::Output,
            shape: self.nodes[out].shape,
            alt: None,
            weights: None,
            span: return_span(&space.body),
        });
        self.nodes.add_edge(out, output, Port(0));
        if let Some(k) = classes {
            match self.nodes[out].shape {
                Shape::Vector { n } if n as i64 == k => {}
                s => {
                    let at = return_span(&space.body).unwrap_or(space.name.span);
                    self.error(
                        Diagnostic::new(Code::Shape, at, format!("the space returns {s}, but `classes` is {k}"))
                            .hint("end the network with `dense(classes)` on a vector"),
                    );
                }
            }
        }
        self.prune_dead(output);
        Some(Graph {
            name: space.name.name.clone(),
            nodes: std::mem::take(&mut self.nodes),
            choices: std::mem::take(&mut self.choices),
            input,
            output,
            classes: classes.map(|c| c as u32),
            instances: std::mem::take(&mut self.instances),
        })
    }

    /// The graph's input node, shaped by `--input` or by the parameter's default (`[3, 32, 32]`).
    fn input_node(&mut self, p: &ast::Param, given: Option<&[u32]>, env: &Env) -> Option<NodeIndex> {
        let at = p.default.as_ref().map_or(p.name.span, |e| e.span);
        let dims: Vec<i64> = match (given, &p.default) {
            (Some(d), _) => d.iter().map(|&v| v as i64).collect(),
            (None, Some(e)) => match self.eval(e, env) {
                Value::List(items) => items.iter().map(|v| v.as_int().unwrap_or(-1)).collect(),
                Value::Poison => return None,
                other => {
                    self.error(
                        Diagnostic::new(
                            Code::Type,
                            at,
                            format!("the input shape must be a list of ints, got {}", other.type_name()),
                        )
                        .hint("write it as `x: tensor = [3, 32, 32]`"),
                    );
                    return None;
                }
            },
            (None, None) => {
                self.error(
                    Diagnostic::new(Code::Arity, p.name.span, "the input of a space needs a default shape")
                        .hint("write it as `x: tensor = [3, 32, 32]`, or pass `--input C,H,W`"),
                );
                return None;
            }
        };
        let dim = |d: i64| u32::try_from(d).ok().filter(|&d| d >= 1);
        let shape = match dims[..] {
            [c, h, w] => dim(c).zip(dim(h)).zip(dim(w)).map(|((c, h), w)| Shape::Map { c, h, w }),
            [n] => dim(n).map(|n| Shape::Vector { n }),
            _ => None,
        };
        let shape = match shape.map(Shape::within_limits) {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                self.error(
                    Diagnostic::new(Code::BadValue, at, format!("invalid input shape: {}", e.message)).hint(e.hint),
                );
                return None;
            }
            None => {
                self.error(
                    Diagnostic::new(Code::BadValue, at, format!("invalid input shape {dims:?}"))
                        .hint("an input is [C, H, W] or [N], every dimension at least 1"),
                );
                return None;
            }
        };
        let name = self.unique(&p.name.name);
        Some(self.nodes.add_node(Node {
            name,
            op: Op::Input,
            shape,
            alt: None,
            weights: None,
            span: Some(p.name.span),
        }))
    }

    /// Drop nodes that do not feed the output (values computed and never used).
    fn prune_dead(&mut self, output: NodeIndex) {
        let mut live = vec![false; self.nodes.node_bound()];
        let rev = Reversed(&self.nodes);
        let mut dfs = Dfs::new(rev, output);
        while let Some(n) = dfs.next(rev) {
            live[n.index()] = true;
        }
        let dead: Vec<NodeIndex> =
            self.nodes.node_indices().filter(|n| !live[n.index()] && self.nodes[*n].op != Op::Input).collect();
        for n in dead {
            self.nodes.remove_node(n);
        }
    }

    // ---- statements ----------------------------------------------------------------------------

    /// Evaluate a block body, which ends in `return`.
    fn body(&mut self, stmts: &[Stmt], env: Env) -> Value {
        match self.stmts(stmts, env, true) {
            (Flow::Return(v), _) => v,
            (Flow::Fallthrough, _) => Value::Poison, // resolve reported the missing return
        }
    }

    fn stmts(&mut self, stmts: &[Stmt], mut env: Env, top_level: bool) -> (Flow, Env) {
        for (i, stmt) in stmts.iter().enumerate() {
            match stmt {
                Stmt::Let { name, value } => {
                    let v = match &value.kind {
                        ExprKind::Choice { name: cname, shared, alternatives } => {
                            match self.eval_choice(cname, *shared, alternatives, &env, value.span) {
                                Evaluated::Tensor(v) => v,
                                Evaluated::Values(cid, values) if top_level => {
                                    let v = self.fork(cid, &name.name, values, &stmts[i + 1..], &env);
                                    return (Flow::Return(v), env);
                                }
                                Evaluated::Values(..) => self.error(
                                    Diagnostic::new(Code::Choice, value.span, "a value choice cannot sit inside `repeat` or `{ }`")
                                        .hint("move it into a block of its own; the rest of that block is instantiated once per option"),
                                ),
                                Evaluated::Failed => Value::Poison,
                            }
                        }
                        _ => self.eval(value, &env),
                    };
                    env.insert(name.name.clone(), v);
                }
                Stmt::Repeat { var, count, label, body, .. } => {
                    let n = match self.eval(count, &env) {
                        Value::Int(n) if (0..=100_000).contains(&n) => n,
                        Value::Poison => continue,
                        other => {
                            self.error(
                                Diagnostic::new(
                                    Code::BadValue,
                                    count.span,
                                    format!("`repeat` needs a count between 0 and 100000, got {other}"),
                                )
                                .hint("the count is an int expression, e.g. `repeat blocks as block { ... }`"),
                            );
                            continue;
                        }
                    };
                    for k in 1..=n {
                        if let Some(l) = label {
                            let seg = self.unique(&format!("{}{k}", l.name));
                            self.push_frame(seg, false);
                        }
                        if let Some(v) = var {
                            env.insert(v.name.clone(), Value::Int(k));
                        }
                        let (_, e) = self.stmts(body, env, false);
                        env = e;
                        if label.is_some() {
                            self.pop_frame();
                        }
                        if self.budget_reported {
                            break;
                        }
                    }
                }
                Stmt::Return { value, .. } => {
                    let v = self.eval(value, &env);
                    return (Flow::Return(v), env);
                }
            }
        }
        (Flow::Fallthrough, env)
    }
}

/// What sharers of one weight key must agree on: the weight shape and whether there is a bias.
#[derive(Clone, Debug, PartialEq)]
struct WeightSignature {
    shape: Vec<u32>,
    bias: bool,
}

impl WeightSignature {
    fn of(op: &Op, input: Shape) -> Self {
        let bias = matches!(op, Op::Conv { bias: true, .. } | Op::Dense { bias: true, .. });
        WeightSignature { shape: op.weight_shape(input).unwrap_or_default(), bias }
    }
}

impl std::fmt::Display for WeightSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}{}", self.shape, if self.bias { " + bias" } else { "" })
    }
}

fn return_span(body: &[Stmt]) -> Option<Span> {
    body.iter().rev().find_map(|s| match s {
        Stmt::Return { value, .. } => Some(value.span),
        _ => None,
    })
}

fn article(word: &str) -> String {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) { format!("an {word}") } else { format!("a {word}") }
}

pub(crate) fn signature(name: &str, params: &[ast::Param]) -> String {
    let ps: Vec<String> = params
        .iter()
        .map(|p| {
            if p.default.is_some() {
                format!("{}: {} = ...", p.name.name, p.ty.name())
            } else {
                format!("{}: {}", p.name.name, p.ty.name())
            }
        })
        .collect();
    format!("`{name}({})`", ps.join(", "))
}

fn function_doc(name: &str) -> String {
    builtins::function(name).map_or(String::new(), |f| f.doc.to_string())
}
