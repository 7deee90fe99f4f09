//! Lowering: evaluate a space with its arguments and instantiate every block into the graph IR.
//!
//! The language is evaluated, not just translated: widths are arithmetic on inferred shapes
//! (`channels(x)`), `repeat` unrolls, and a value choice (`bits = choice bits {...}`) instantiates
//! the rest of its block once per option. Shapes are inferred as each node is created. Errors are
//! collected as diagnostics; a failed expression yields `Value::Poison`, which silences follow-on
//! errors, so one run reports every independent problem.

pub mod builtins;
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

    // ---- choices -------------------------------------------------------------------------------

    /// Register a choice, evaluate its options and, if they are sub-graphs, merge them.
    fn eval_choice(
        &mut self,
        name: &ast::Ident,
        shared: bool,
        alternatives: &[ast::Alternative],
        env: &Env,
        span: Span,
    ) -> Evaluated {
        let cid = self.register_choice(name, shared, alternatives);
        let values = self.in_each_option(cid, |l, o| l.eval(&alternatives[o].value, env));
        if values.iter().any(Value::is_poison) {
            return Evaluated::Failed;
        }
        match values.iter().filter(|v| matches!(v, Value::Tensor(_))).count() {
            n if n == values.len() => Evaluated::Tensor(self.merge_options(cid, &values)),
            0 => Evaluated::Values(cid, values),
            _ => {
                self.error(
                    Diagnostic::new(
                        Code::Choice,
                        span,
                        format!("the options of choice `{}` mix tensors and values", name.name),
                    )
                    .hint("either every option is a sub-graph (a tensor) or every option is a value"),
                );
                Evaluated::Failed
            }
        }
    }

    fn register_choice(&mut self, name: &ast::Ident, shared: bool, alternatives: &[ast::Alternative]) -> ChoiceId {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for a in alternatives {
            if let Some(prev) = seen.insert(&a.name.name, a.name.span) {
                self.error(
                    Diagnostic::new(
                        Code::Duplicate,
                        a.name.span,
                        format!("option `{}` appears twice in choice `{}`", a.name.name, name.name),
                    )
                    .related(prev, "first here")
                    .hint("option names must be unique within a choice"),
                );
            }
            if let Some(c) = a.cost
                && (!c.is_finite() || c < 0.0)
            {
                self.error(
                    Diagnostic::new(Code::BadValue, a.name.span, "a cost must be a finite, non-negative number")
                        .hint("costs are latencies in any consistent unit, e.g. `cost 0.82`"),
                );
            }
        }
        if alternatives.len() < 2 {
            self.error(
                Diagnostic::new(Code::Choice, name.span, format!("choice `{}` has only one option", name.name)).hint(
                    "a choice needs at least two options; without a choice, write the option's expression directly",
                ),
            );
        }
        let local = self.unique(&name.name);
        let cid = ChoiceId(self.choices.len() as u32);
        self.choices.push(Choice {
            name: self.path(&local, false),
            kind: ChoiceKind::Subgraph,
            shared,
            options: alternatives
                .iter()
                .map(|a| ChoiceOption { name: a.name.name.clone(), cost: a.cost, value: None })
                .collect(),
            parent: self.alt,
            select: NodeIndex::end(),
            span: name.span,
        });
        cid
    }

    /// Run `f` once per option of a choice, inside the option's scope (`<choice>.<option>`) and
    /// with the option as the context of every node created.
    fn in_each_option<T>(&mut self, cid: ChoiceId, mut f: impl FnMut(&mut Self, usize) -> T) -> Vec<T> {
        let c = &self.choices[cid.0 as usize];
        let segment = c.name.rsplit('.').next().unwrap_or_default().to_string();
        let options: Vec<String> = c.options.iter().map(|o| o.name.clone()).collect();
        let shared = c.shared;
        self.push_frame(segment, shared);
        let saved = self.alt;
        let mut out = Vec::with_capacity(options.len());
        for (o, option) in options.into_iter().enumerate() {
            self.alt = Some(Alt { choice: cid, option: OptionIx(o as u32) });
            self.push_frame(option, shared);
            out.push(f(self, o));
            self.pop_frame();
        }
        self.alt = saved;
        self.pop_frame();
        out
    }

    /// The `Select` node that merges a choice's sub-graphs.
    fn merge_options(&mut self, cid: ChoiceId, values: &[Value]) -> Value {
        let inputs: Vec<NodeIndex> = values.iter().filter_map(Value::as_tensor).collect();
        let (name, span) = (self.choices[cid.0 as usize].name.clone(), self.choices[cid.0 as usize].span);
        let shapes: Vec<Shape> = inputs.iter().map(|&i| self.nodes[i].shape).collect();
        let shape = match ir::shape::infer(&Op::Select { choice: cid }, &shapes) {
            Ok(s) => s,
            Err(e) => {
                let options = &self.choices[cid.0 as usize].options;
                let detail = shapes
                    .iter()
                    .zip(options)
                    .map(|(s, o)| format!("{} -> {s}", o.name))
                    .collect::<Vec<_>>()
                    .join(", ");
                // The choice's name, not the whole (multi-line) expression.
                return self.error(
                    Diagnostic::new(
                        Code::Shape,
                        span,
                        format!("the options of choice `{name}` produce different shapes"),
                    )
                    .label(detail)
                    .hint(e.hint),
                );
            }
        };
        let n = self.nodes.add_node(Node {
            name,
            op: Op::Select { choice: cid },
            shape,
            alt: self.alt,
            weights: None,
            span: Some(span),
        });
        for (port, &i) in inputs.iter().enumerate() {
            self.nodes.add_edge(i, n, Port(port as u32));
        }
        self.choices[cid.0 as usize].select = n;
        Value::Tensor(n)
    }

    /// Instantiate the rest of a block once per option of a value choice, then merge.
    fn fork(&mut self, cid: ChoiceId, var: &str, values: Vec<Value>, rest: &[Stmt], env: &Env) -> Value {
        let c = &mut self.choices[cid.0 as usize];
        c.kind = ChoiceKind::Value;
        for (o, v) in c.options.iter_mut().zip(&values) {
            o.value = Some(v.to_string());
        }
        let span = c.span;
        let outs = self.in_each_option(cid, |l, o| {
            let mut e = env.clone();
            e.insert(var.to_string(), values[o].clone());
            l.body(rest, e)
        });
        if outs.iter().any(Value::is_poison) {
            return Value::Poison;
        }
        if !outs.iter().all(|v| matches!(v, Value::Tensor(_))) {
            return self
                .error(Diagnostic::new(Code::Choice, span, "a block with a value choice must return a tensor").hint(
                    "the rest of the block is instantiated once per option, and the options' outputs are merged",
                ));
        }
        self.merge_options(cid, &outs)
    }

    // ---- expressions ---------------------------------------------------------------------------

    fn eval(&mut self, e: &Expr, env: &Env) -> Value {
        match &e.kind {
            ExprKind::Int(v) => Value::Int(*v),
            ExprKind::Float(v) => Value::Float(*v),
            ExprKind::Str(s) => Value::Str(s.clone()),
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::List(items) => {
                let vals: Vec<Value> = items.iter().map(|i| self.eval(i, env)).collect();
                if vals.iter().any(Value::is_poison) { Value::Poison } else { Value::List(vals) }
            }
            ExprKind::Var(id) => env.get(&id.name).cloned().unwrap_or(Value::Poison),
            ExprKind::Unary { op, operand } => {
                let v = self.eval(operand, env);
                match (op, v) {
                    (_, Value::Poison) => Value::Poison,
                    (UnOp::Neg, Value::Int(i)) => match i.checked_neg() {
                        Some(n) => Value::Int(n),
                        None => self.error(Diagnostic::new(Code::Arithmetic, e.span, "integer overflow")),
                    },
                    (UnOp::Neg, Value::Float(f)) => Value::Float(-f),
                    (UnOp::Not, Value::Bool(b)) => Value::Bool(!b),
                    (op, v) => self.error(
                        Diagnostic::new(
                            Code::Type,
                            e.span,
                            format!(
                                "cannot apply `{}` to {}",
                                if *op == UnOp::Neg { "-" } else { "not" },
                                v.type_name()
                            ),
                        )
                        .hint("`-` takes a number, `not` a bool"),
                    ),
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                if matches!(op, BinOp::And | BinOp::Or) {
                    return self.logic(*op, lhs, rhs, env);
                }
                let a = self.eval(lhs, env);
                let b = self.eval(rhs, env);
                self.binary(*op, a, b, e.span)
            }
            ExprKind::If { cond, then, otherwise } => match self.eval(cond, env) {
                Value::Bool(true) => self.eval(then, env),
                Value::Bool(false) => self.eval(otherwise, env),
                Value::Poison => Value::Poison,
                other => self.error(
                    Diagnostic::new(Code::Type, cond.span, format!("`if` needs a bool, got {}", other.type_name()))
                        .hint("compare with `==`, `!=`, `<`, ..."),
                ),
            },
            ExprKind::Block { stmts, value } => {
                let (flow, env2) = self.stmts(stmts, env.clone(), false);
                match flow {
                    Flow::Return(v) => v,
                    Flow::Fallthrough => self.eval(value, &env2),
                }
            }
            ExprKind::Choice { name, shared, alternatives } => {
                match self.eval_choice(name, *shared, alternatives, env, e.span) {
                    Evaluated::Tensor(v) => v,
                    Evaluated::Values(..) => self.error(
                        Diagnostic::new(Code::Choice, e.span, "a value choice must be bound to a name").hint(format!(
                            "write `{0} = choice {0} {{ ... }}` as a statement of a block, then use `{0}`",
                            name.name
                        )),
                    ),
                    Evaluated::Failed => Value::Poison,
                }
            }
            ExprKind::Call { callee, args, label, .. } => self.call(callee, args, label.as_ref(), env, e.span),
        }
    }

    fn logic(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr, env: &Env) -> Value {
        let a = self.eval(lhs, env);
        let a = match a {
            Value::Bool(b) => b,
            Value::Poison => return Value::Poison,
            other => {
                return self.error(Diagnostic::new(
                    Code::Type,
                    lhs.span,
                    format!("`{}` needs bools, got {}", op.symbol(), other.type_name()),
                ));
            }
        };
        if (op == BinOp::And && !a) || (op == BinOp::Or && a) {
            return Value::Bool(a);
        }
        match self.eval(rhs, env) {
            Value::Bool(b) => Value::Bool(b),
            Value::Poison => Value::Poison,
            other => self.error(Diagnostic::new(
                Code::Type,
                rhs.span,
                format!("`{}` needs bools, got {}", op.symbol(), other.type_name()),
            )),
        }
    }

    fn binary(&mut self, op: BinOp, a: Value, b: Value, span: Span) -> Value {
        use Value::*;
        if a.is_poison() || b.is_poison() {
            return Poison;
        }
        if let (Tensor(x), Tensor(y)) = (&a, &b)
            && op == BinOp::Add
        {
            return self.add_node(Op::Add, &[*x, *y], "add", span);
        }
        let arith_err = |l: &mut Self, m: &str| {
            l.error(Diagnostic::new(Code::Arithmetic, span, m.to_string()).hint("check the operands"))
        };
        match (op, &a, &b) {
            (BinOp::Eq | BinOp::Ne, Str(x), Str(y)) => Bool((x == y) == (op == BinOp::Eq)),
            (BinOp::Eq | BinOp::Ne, Bool(x), Bool(y)) => Bool((x == y) == (op == BinOp::Eq)),
            (_, Int(x), Int(y)) => {
                let (x, y) = (*x, *y);
                let r = match op {
                    BinOp::Add => x.checked_add(y),
                    BinOp::Sub => x.checked_sub(y),
                    BinOp::Mul => x.checked_mul(y),
                    BinOp::Rem => {
                        if y == 0 {
                            return arith_err(self, "remainder by zero");
                        }
                        x.checked_rem_euclid(y)
                    }
                    BinOp::Div => {
                        if y == 0 {
                            return arith_err(self, "division by zero");
                        }
                        return Float(x as f64 / y as f64);
                    }
                    _ => return Bool(compare(op, x, y)),
                };
                match r {
                    Some(v) => Int(v),
                    None => arith_err(self, "integer overflow"),
                }
            }
            (_, Int(_) | Float(_), Int(_) | Float(_)) => {
                let (x, y) = (a.as_float().unwrap(), b.as_float().unwrap());
                let r = match op {
                    BinOp::Add => x + y,
                    BinOp::Sub => x - y,
                    BinOp::Mul => x * y,
                    BinOp::Div => {
                        if y == 0.0 {
                            return arith_err(self, "division by zero");
                        }
                        x / y
                    }
                    BinOp::Rem => {
                        if y == 0.0 {
                            return arith_err(self, "remainder by zero");
                        }
                        x.rem_euclid(y)
                    }
                    _ => return Bool(compare(op, x, y)),
                };
                if r.is_finite() { Float(r) } else { arith_err(self, "the result is not a finite number") }
            }
            _ => self.error(
                Diagnostic::new(
                    Code::Type,
                    span,
                    format!("cannot apply `{}` to {} and {}", op.symbol(), a.type_name(), b.type_name()),
                )
                .hint(if matches!((&a, &b), (Tensor(_), _) | (_, Tensor(_))) {
                    "tensors support only `+` with another tensor (a residual addition)"
                } else {
                    "arithmetic takes ints and floats; `==`/`!=` also compare strings and bools"
                }),
            ),
        }
    }

    // ---- calls ---------------------------------------------------------------------------------

    fn call(
        &mut self,
        callee: &ast::Ident,
        args: &[ast::Arg],
        label: Option<&ast::Ident>,
        env: &Env,
        span: Span,
    ) -> Value {
        let name = callee.name.as_str();
        if let Some(f) = builtins::function(name) {
            if let Some(l) = label {
                self.error(Diagnostic::new(
                    Code::BadValue,
                    l.span,
                    format!("`{name}` is a function, not a layer; it cannot be labelled"),
                ));
            }
            return self.function(f.func, callee, args, env, span);
        }
        if let Some(spec) = builtins::layer(name) {
            return self.layer_call(spec, args, label, env, span);
        }
        let Some(def) = self.prog.def(name) else {
            return Value::Poison; // resolve reported it
        };
        if def.kind == ast::DefKind::Space {
            return self.error(
                Diagnostic::new(Code::UnknownBlock, callee.span, format!("`{name}` is a space, not a block"))
                    .hint("spaces are entry points; turn the shared part into a `block` and call that"),
            );
        }
        if self.calls.iter().any(|(c, _)| c == name) {
            let chain: Vec<&str> = self.calls.iter().map(|(c, _)| c.as_str()).collect();
            return self.error(
                Diagnostic::new(Code::Recursion, callee.span, format!("block `{name}` calls itself"))
                    .label(format!("call chain: {} -> {name}", chain.join(" -> ")))
                    .hint("blocks cannot be recursive; use `repeat` for repetition"),
            );
        }
        if self.calls.len() >= MAX_CALL_DEPTH {
            return self.error(Diagnostic::new(
                Code::Limit,
                callee.span,
                format!("block calls nest deeper than {MAX_CALL_DEPTH}"),
            ));
        }
        let formals: Vec<Formal> = def
            .params
            .iter()
            .map(|p| Formal { name: &p.name.name, ty: p.ty, required: p.default.is_none(), decl: Some(p.name.span) })
            .collect();
        let sig = || signature(name, &def.params);
        let Some(given) = self.bind_args(name, &formals, false, &sig, args, env, span) else { return Value::Poison };
        // Defaults are evaluated in order, so they may use the parameters before them.
        let mut bound = Env::new();
        for (p, slot) in def.params.iter().zip(given.slots) {
            let v = match (slot, &p.default) {
                (Some((v, _)), _) => v,
                (None, Some(d)) => {
                    let v = self.eval(d, &bound);
                    self.coerce(v, p.ty, d.span, &p.name.name)
                }
                (None, None) => unreachable!("bind_args reports missing arguments"),
            };
            if v.is_poison() {
                return Value::Poison;
            }
            bound.insert(p.name.name.clone(), v);
        }
        let segment = self.unique(label.map_or(name, |l| l.name.as_str()));
        self.push_frame(segment, false);
        let scope = self.path("", false);
        self.instances.push(ir::Instance {
            block: name.to_string(),
            span,
            scope: scope.trim_end_matches('.').to_string(),
        });
        self.calls.push((name.to_string(), span));
        let v = self.body(&def.body, bound);
        self.calls.pop();
        self.pop_frame();
        v
    }

    /// Match call arguments to parameters (positional first, then named), for blocks and
    /// built-in layers alike: too many, repeated or missing arguments are reported, and every
    /// given value is checked against its parameter's type. Defaults are the caller's business.
    #[allow(clippy::too_many_arguments)]
    fn bind_args(
        &mut self,
        callee: &str,
        formals: &[Formal],
        variadic: bool,
        signature: &dyn Fn() -> String,
        args: &[ast::Arg],
        env: &Env,
        span: Span,
    ) -> Option<Bound> {
        let mut bound = Bound { slots: vec![None; formals.len()], extra: vec![] };
        let mut failed = false;
        let mut positional = 0;
        for a in args {
            let v = self.eval(&a.value, env);
            let idx = match &a.name {
                Some(n) => match formals.iter().position(|f| f.name == n.name) {
                    Some(i) => i,
                    None => {
                        failed = true; // resolve reported the unknown name
                        continue;
                    }
                },
                None => {
                    positional += 1;
                    if variadic && positional > 1 {
                        match v {
                            Value::Tensor(t) => bound.extra.push(t),
                            Value::Poison => failed = true,
                            other => {
                                failed = true;
                                self.error(
                                    Diagnostic::new(
                                        Code::Type,
                                        a.value.span,
                                        format!("`{callee}` takes tensors, got {}", other.type_name()),
                                    )
                                    .hint(signature()),
                                );
                            }
                        }
                        continue;
                    }
                    if positional > formals.len() {
                        failed = true;
                        self.error(
                            Diagnostic::new(
                                Code::Arity,
                                a.value.span,
                                format!("`{callee}` takes at most {} positional argument(s)", formals.len()),
                            )
                            .label("one too many")
                            .hint(signature()),
                        );
                        continue;
                    }
                    positional - 1
                }
            };
            if bound.slots[idx].is_some() {
                failed = true;
                self.error(
                    Diagnostic::new(
                        Code::Duplicate,
                        a.value.span,
                        format!("argument `{}` is given twice", formals[idx].name),
                    )
                    .hint(signature()),
                );
                continue;
            }
            let v = self.coerce(v, formals[idx].ty, a.value.span, formals[idx].name);
            if v.is_poison() {
                failed = true;
                continue;
            }
            bound.slots[idx] = Some((v, a.value.span));
        }
        if failed {
            return None;
        }
        for (f, slot) in formals.iter().zip(&bound.slots) {
            if f.required && slot.is_none() {
                failed = true;
                let mut d = Diagnostic::new(Code::Arity, span, format!("missing argument `{}` of `{callee}`", f.name))
                    .hint(signature());
                if let Some(decl) = f.decl {
                    d = d.related(decl, "parameter declared here");
                }
                self.error(d);
            }
        }
        (!failed).then_some(bound)
    }

    fn coerce(&mut self, v: Value, ty: Type, span: Span, what: &str) -> Value {
        match (ty, v) {
            (_, Value::Poison) => Value::Poison,
            (Type::Float, Value::Int(i)) => Value::Float(i as f64),
            (Type::Tensor, v @ Value::Tensor(_))
            | (Type::Int, v @ Value::Int(_))
            | (Type::Float, v @ Value::Float(_))
            | (Type::Bool, v @ Value::Bool(_))
            | (Type::Str, v @ Value::Str(_)) => v,
            (Type::Shape, Value::List(items)) if items.iter().all(|i| matches!(i, Value::Int(_))) => Value::List(items),
            (ty, v) => self.error(
                Diagnostic::new(
                    Code::Type,
                    span,
                    format!("`{what}` expects {}, got {} `{v}`", article(ty.name()), v.type_name()),
                )
                .hint(match ty {
                    Type::Int => "use `round(...)` or `floor(...)` to turn a float into an int",
                    Type::Tensor => "pass a tensor: a block input or a layer's output",
                    _ => "check the argument",
                }),
            ),
        }
    }

    fn layer_call(
        &mut self,
        spec: &'static builtins::LayerSpec,
        args: &[ast::Arg],
        label: Option<&ast::Ident>,
        env: &Env,
        span: Span,
    ) -> Value {
        let formals: Vec<Formal> = spec
            .params
            .iter()
            .map(|p| Formal {
                name: p.name,
                ty: p.ty,
                required: matches!(p.default, builtins::ArgDefault::Required),
                decl: None,
            })
            .collect();
        let sig = || format!("`{}`", spec.signature());
        let Some(given) = self.bind_args(spec.name, &formals, spec.variadic, &sig, args, env, span) else {
            return Value::Poison;
        };
        // Tensor parameters are the node's inputs, in declaration order, then a variadic rest.
        let mut inputs: Vec<NodeIndex> = vec![];
        let mut values: HashMap<&'static str, Value> = HashMap::new();
        let mut spans: HashMap<&'static str, Span> = HashMap::new();
        for (p, slot) in spec.params.iter().zip(given.slots) {
            if let Some((v, sp)) = slot {
                if let Value::Tensor(t) = v {
                    inputs.push(t);
                }
                values.insert(p.name, v);
                spans.insert(p.name, sp);
            }
        }
        inputs.extend(given.extra);
        let args = BoundArgs { values: &values, spec };
        let op = match (spec.build)(&args) {
            Ok(op) => op,
            Err((param, message, hint)) => {
                let at = spans.get(param).copied().unwrap_or(span);
                return self.error(Diagnostic::new(Code::BadValue, at, message).hint(hint));
            }
        };
        let local = label.map_or(spec.name, |l| l.name.as_str()).to_string();
        self.add_node(op, &inputs, &local, span)
    }

    fn function(
        &mut self,
        func: builtins::Func,
        callee: &ast::Ident,
        args: &[ast::Arg],
        env: &Env,
        span: Span,
    ) -> Value {
        let name = callee.name.as_str();
        let vals: Vec<Value> = args.iter().map(|a| self.eval(&a.value, env)).collect();
        if vals.iter().any(Value::is_poison) {
            return Value::Poison;
        }
        if let Some(a) = args.iter().find(|a| a.name.is_some()) {
            return self.error(Diagnostic::new(
                Code::UnknownArgument,
                a.value.span,
                format!("`{name}` takes no named arguments"),
            ));
        }
        let want = |l: &mut Self, n: &str| {
            l.error(Diagnostic::new(Code::Arity, span, format!("`{name}` takes {n}")).hint(function_doc(name)))
        };
        use builtins::Func;
        match func {
            Func::Channels | Func::Height | Func::Width => {
                let [Value::Tensor(t)] = vals[..] else { return want(self, "one tensor") };
                let s = self.nodes[t].shape;
                match (func, s) {
                    (Func::Channels, _) => Value::Int(s.channels() as i64),
                    (Func::Height, Shape::Map { h, .. }) => Value::Int(h as i64),
                    (Func::Width, Shape::Map { w, .. }) => Value::Int(w as i64),
                    _ => self.error(Diagnostic::new(
                        Code::Shape,
                        span,
                        format!("`{name}` needs a feature map, got the vector {s}"),
                    )),
                }
            }
            Func::Round | Func::Floor | Func::Ceil | Func::Abs => {
                let [ref v] = vals[..] else { return want(self, "one number") };
                match v {
                    Value::Int(i) if func == Func::Abs => Value::Int(i.saturating_abs()),
                    Value::Int(i) => Value::Int(*i),
                    Value::Float(f) => {
                        let r = match func {
                            Func::Round => f.round_ties_even(),
                            Func::Floor => f.floor(),
                            Func::Ceil => f.ceil(),
                            _ => return Value::Float(f.abs()),
                        };
                        if r.abs() < 9.0e15 {
                            Value::Int(r as i64)
                        } else {
                            self.error(Diagnostic::new(Code::Arithmetic, span, "the result does not fit an int"))
                        }
                    }
                    other => self.error(Diagnostic::new(
                        Code::Type,
                        span,
                        format!("`{name}` takes a number, got {}", other.type_name()),
                    )),
                }
            }
            Func::Min | Func::Max => {
                if vals.is_empty() {
                    return want(self, "at least one number");
                }
                if vals.iter().all(|v| matches!(v, Value::Int(_))) {
                    let it = vals.iter().filter_map(Value::as_int);
                    return Value::Int(if func == Func::Min { it.min().unwrap() } else { it.max().unwrap() });
                }
                let fs: Option<Vec<f64>> = vals.iter().map(Value::as_float).collect();
                match fs {
                    Some(fs) => Value::Float(
                        fs.into_iter().reduce(if func == Func::Min { f64::min } else { f64::max }).unwrap(),
                    ),
                    None => self.error(Diagnostic::new(Code::Type, span, format!("`{name}` takes numbers"))),
                }
            }
        }
    }
}

struct BoundArgs<'a> {
    values: &'a HashMap<&'static str, Value>,
    spec: &'static builtins::LayerSpec,
}

impl BoundArgs<'_> {
    fn get(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.values.get(name) {
            return Some(v.clone());
        }
        let p = self.spec.params.iter().find(|p| p.name == name)?;
        match p.default {
            builtins::ArgDefault::Int(i) => Some(Value::Int(i)),
            builtins::ArgDefault::Float(f) => Some(Value::Float(f)),
            builtins::ArgDefault::Bool(b) => Some(Value::Bool(b)),
            builtins::ArgDefault::Str(s) => Some(Value::Str(s.into())),
            builtins::ArgDefault::Required | builtins::ArgDefault::Derived => None,
        }
    }
}

impl builtins::LayerArgs for BoundArgs<'_> {
    fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(|v| v.as_int())
    }
    fn float(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(|v| v.as_float())
    }
    fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Some(Value::Bool(b)) => Some(b),
            _ => None,
        }
    }
    fn str(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(Value::Str(s)) => Some(s.as_str()),
            _ => match self.spec.params.iter().find(|p| p.name == name)?.default {
                builtins::ArgDefault::Str(s) => Some(s),
                _ => None,
            },
        }
    }
}

/// A comparison operator applied to two numbers of one type.
fn compare<T: PartialOrd>(op: BinOp, x: T, y: T) -> bool {
    match op {
        BinOp::Eq => x == y,
        BinOp::Ne => x != y,
        BinOp::Lt => x < y,
        BinOp::Le => x <= y,
        BinOp::Gt => x > y,
        BinOp::Ge => x >= y,
        _ => unreachable!("`{}` is not a comparison", op.symbol()),
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
