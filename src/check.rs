//! The driver behind `lightnasc check` (and the entry point for tools): load a spec or a pinned
//! architecture, lower the space, validate it, optionally pin it, and summarise the result.

use std::path::Path;

use serde::Serialize;

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::front::ast::{ExprKind, Type};
use crate::front::source::SourceDb;
use crate::front::{self, SourceTree, StdLib};
use crate::ir::cost::{self, Cost, CostRange};
use crate::ir::pin::{self, Assignment, PinError, PinSetting};
use crate::ir::{ChoiceKind, Graph, Op, Shape};
use crate::lower::{self, SpaceArgs, Value};

/// How the user named a pinned architecture on the command line (`--pin`).
#[derive(Clone, Debug, PartialEq)]
pub enum PinArg {
    /// `random` or `random:SEED`.
    Random(u64),
    /// `melius:DIDI...T...`: the original's MeliusNet config string.
    Melius(String),
    /// `name=option,name=option`.
    Inline(Vec<(String, String)>),
    /// A pinned-architecture file.
    File(std::path::PathBuf),
}

impl std::str::FromStr for PinArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "random" {
            return Ok(PinArg::Random(0));
        }
        if let Some(seed) = s.strip_prefix("random:") {
            return seed
                .parse()
                .map(PinArg::Random)
                .map_err(|_| format!("`{seed}` is not a seed (an unsigned integer)"));
        }
        if let Some(cfg) = s.strip_prefix("melius:") {
            return Ok(PinArg::Melius(cfg.to_string()));
        }
        if s.contains('=') {
            return s
                .split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                        Ok((k.trim().to_string(), v.trim().to_string()))
                    }
                    _ => Err(format!("`{p}` is not `choice=option`")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(PinArg::Inline);
        }
        Ok(PinArg::File(s.into()))
    }
}

/// What one check produced. `db` is always there so diagnostics can be rendered.
pub struct Outcome {
    pub db: SourceDb,
    /// The syntax trees of the root file (first) and its imports, for tools that navigate source.
    pub files: Vec<crate::front::ast::File>,
    pub diags: Diagnostics,
    pub space: Option<Graph>,
    pub pinned: Option<(Assignment, Graph)>,
}

/// A spec that checked: its space and, with a pin, the architecture (no diagnostics).
pub struct Checked {
    pub space: Graph,
    pub pinned: Option<(Assignment, Graph)>,
}

impl Outcome {
    /// The checked spec, or this outcome back when it has diagnostics to show.
    pub fn checked(self) -> Result<Checked, Box<Outcome>> {
        match self.space {
            Some(space) if self.diags.is_empty() => Ok(Checked { space, pinned: self.pinned }),
            _ => Err(Box::new(self)),
        }
    }
}

/// Check a spec file (or a pinned-architecture file) with optional overrides and pin.
pub fn check_path(path: &Path, args: &SpaceArgs, space_name: Option<&str>, pin: Option<&PinArg>) -> Outcome {
    check_path_with(path, &StdLib::Embedded, args, space_name, pin)
}

/// [`check_path`] with `std/...` imports read from `std` (a run folder's copy).
pub fn check_path_with(
    path: &Path,
    std: &StdLib,
    args: &SpaceArgs,
    space_name: Option<&str>,
    pin: Option<&PinArg>,
) -> Outcome {
    let mut diags = Diagnostics::default();
    let Some(prog) = front::load_path_with(path, std, &mut diags) else {
        return Outcome { db: SourceDb::new(), files: vec![], diags, space: None, pinned: None };
    };
    check_program(prog, diags, args, space_name, pin)
}

/// Check source text held in memory (tests).
pub fn check_text(name: &str, text: &str, args: &SpaceArgs, pin: Option<&PinArg>) -> Outcome {
    let mut diags = Diagnostics::default();
    let prog = front::load_text(name, None, text.to_string(), &mut diags);
    check_program(prog, diags, args, None, pin)
}

/// Check the unsaved text of a file at `path` (the language server): relative imports resolve
/// against the file's folder.
pub fn check_unsaved(name: &str, path: Option<std::path::PathBuf>, text: &str, args: &SpaceArgs) -> Outcome {
    let mut diags = Diagnostics::default();
    let prog = front::load_text(name, path, text.to_string(), &mut diags);
    check_program(prog, diags, args, None, None)
}

/// Stack for lowering: it recurses once per nested block call and expression level (both
/// bounded), and callers (the language server, tests) may run on small thread stacks.
const LOWERING_STACK: usize = 256 << 20;

fn check_program(
    prog: SourceTree,
    diags: Diagnostics,
    args: &SpaceArgs,
    space_name: Option<&str>,
    pin: Option<&PinArg>,
) -> Outcome {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(LOWERING_STACK)
            .spawn_scoped(s, || check_program_on_this_thread(prog, diags, args, space_name, pin))
            .expect("spawning the lowering thread")
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

fn check_program_on_this_thread(
    prog: SourceTree,
    mut diags: Diagnostics,
    args: &SpaceArgs,
    space_name: Option<&str>,
    pin: Option<&PinArg>,
) -> Outcome {
    if !diags.is_empty() {
        return Outcome { db: prog.db, files: prog.files, diags, space: None, pinned: None };
    }
    // A file holding a `pin` names its space; otherwise the root file's space is checked.
    let file_pin = prog.pins.first().cloned();
    let mut args = args.clone();
    let space = match (&file_pin, space_name) {
        (Some(p), _) => match prog.def(&p.space.name) {
            Some(def) => {
                pin_header_args(p, def, &mut args, &mut diags);
                Some(def)
            }
            None => {
                diags.push(
                    Diagnostic::new(Code::Pin, p.space.span, format!("`{}` has no space `{}`", p.from, p.space.name))
                        .hint("the name after `pin` is the space's name in the spec file"),
                );
                None
            }
        },
        (None, Some(name)) => {
            let found = prog.root_spaces().into_iter().find(|s| s.name.name == name);
            if found.is_none() {
                diags.push(Diagnostic::new(Code::NoSpace, None, format!("the file has no space `{name}`")));
            }
            found
        }
        (None, None) => {
            let spaces = prog.root_spaces();
            match spaces.len() {
                1 => Some(spaces[0]),
                0 => {
                    diags.push(
                        Diagnostic::new(
                            Code::NoSpace,
                            None,
                            format!("`{}` defines no space", prog.db.get(prog.root).name),
                        )
                        .hint("a spec needs `space NAME(x: tensor = [C, H, W], classes: int = N) { ... }`"),
                    );
                    None
                }
                _ => {
                    let names: Vec<&str> = spaces.iter().map(|s| s.name.name.as_str()).collect();
                    diags.push(
                        Diagnostic::new(Code::NoSpace, spaces[1].name.span, "the file defines several spaces")
                            .hint(format!("choose one with `--space`: {}", names.join(", "))),
                    );
                    None
                }
            }
        }
    };
    let graph = space.and_then(|s| lower::lower(&prog, s, &args, &mut diags));
    if let Some(g) = &graph {
        crate::valid::validate(g, &mut diags);
    }
    let mut pinned = None;
    if let (Some(g), true) = (&graph, diags.is_empty()) {
        let assignment = match (&file_pin, pin) {
            (_, Some(p)) => Some(assignment_from_arg(g, p)),
            (Some(p), None) => Some(Assignment::from_settings(g, &settings_of(p, true))),
            (None, None) => None,
        };
        let fallback = file_pin.as_ref().map(|p| p.span);
        let assignment = match assignment {
            Some(Err(errs)) => {
                errs.into_iter().for_each(|e| diags.push(pin_diag(e, fallback)));
                None
            }
            Some(Ok(a)) => Some(a),
            None => None,
        };
        if let Some(a) = assignment {
            match pin::pin(g, &a) {
                Ok(p) => pinned = Some((a, p)),
                Err(e) => diags.push(pin_diag(e, None)),
            }
        }
    }
    Outcome { db: prog.db, files: prog.files, diags, space: graph, pinned }
}

/// The `choice = option` lines of a pin. Spans only when the pin is in this compilation's
/// source database (a pin file read for `--pin` is not).
fn settings_of(p: &crate::front::ast::PinDef, located: bool) -> Vec<PinSetting> {
    p.entries
        .iter()
        .map(|e| PinSetting {
            choice: e.path.clone(),
            option: e.option.name.clone(),
            span: located.then_some(e.path_span),
        })
        .collect()
}

fn pin_diag(e: PinError, fallback: Option<crate::front::source::Span>) -> Diagnostic {
    Diagnostic::new(Code::Pin, e.span.or(fallback), e.message).hint(e.hint)
}

/// `pin NAME(x: [1, 28, 28], classes: 10)`: literal arguments of the pinned space.
fn pin_header_args(
    p: &crate::front::ast::PinDef,
    def: &crate::front::ast::BlockDef,
    args: &mut SpaceArgs,
    diags: &mut Diagnostics,
) {
    for a in &p.args {
        let Some(name) = &a.name else {
            diags.push(Diagnostic::new(Code::Pin, a.value.span, "arguments of a pin are named: `classes: 10`"));
            continue;
        };
        let Some(param) = def.params.iter().find(|q| q.name.name == name.name) else {
            diags.push(Diagnostic::new(
                Code::UnknownArgument,
                name.span,
                format!("space `{}` has no parameter `{}`", def.name.name, name.name),
            ));
            continue;
        };
        let lit = literal(&a.value.kind);
        match (param.ty, lit) {
            (Type::Tensor, Some(Value::List(items))) => {
                args.input = items.iter().map(|v| v.as_int().and_then(|i| u32::try_from(i).ok())).collect();
            }
            (_, Some(v)) if name.name == "classes" => args.classes = v.as_int(),
            (_, Some(v)) => args.other.push((name.name.clone(), v)),
            (_, None) => diags.push(Diagnostic::new(
                Code::Pin,
                a.value.span,
                "arguments of a pin are literals (numbers, strings, lists)",
            )),
        }
    }
}

fn literal(e: &ExprKind) -> Option<Value> {
    Some(match e {
        ExprKind::Int(i) => Value::Int(*i),
        ExprKind::Float(f) => Value::Float(*f),
        ExprKind::Str(s) => Value::Str(s.clone()),
        ExprKind::Bool(b) => Value::Bool(*b),
        ExprKind::List(items) => Value::List(items.iter().map(|i| literal(&i.kind)).collect::<Option<Vec<_>>>()?),
        _ => return None,
    })
}

fn assignment_from_arg(g: &Graph, p: &PinArg) -> Result<Assignment, Vec<PinError>> {
    let fail = |message: String, hint: &str| vec![PinError { message, hint: hint.into(), span: None }];
    match p {
        PinArg::Random(seed) => Ok(Assignment::random(g, *seed)),
        PinArg::Melius(cfg) => Assignment::from_melius(g, cfg).map_err(|e| vec![e]),
        PinArg::Inline(pairs) => {
            let settings: Vec<PinSetting> =
                pairs.iter().map(|(c, o)| PinSetting { choice: c.clone(), option: o.clone(), span: None }).collect();
            Assignment::from_settings(g, &settings)
        }
        PinArg::File(path) => {
            // A pin file given with --pin next to a spec: its settings, applied to this space.
            let mut d = Diagnostics::default();
            match front::load_path(path, &mut d) {
                Some(prog) if d.is_empty() => match prog.pins.first() {
                    Some(p) => Assignment::from_settings(g, &settings_of(p, false)),
                    None => Err(fail(
                        format!("`{}` holds no `pin`", path.display()),
                        "a pin file has `pin SPACE from \"spec.lnas\" { ... }`",
                    )),
                },
                _ => Err(fail(
                    format!("cannot read the pin file `{}`", path.display()),
                    "check it on its own: `lightnasc check PINFILE`",
                )),
            }
        }
    }
}

// ---- the report -------------------------------------------------------------------------------

#[derive(Serialize)]
pub struct Report {
    pub space: String,
    pub decisions: usize,
    pub choices: Vec<ChoiceReport>,
    /// Exact, as a decimal string (it overflows every integer type for deep spaces).
    pub space_size: String,
    pub input_shape: Shape,
    pub output_shape: Shape,
    pub params_min: u64,
    pub params_max: u64,
    pub ops_min: f64,
    pub ops_max: f64,
    pub supernet_params: u64,
    /// Present when an architecture was pinned: its assignment and exact cost.
    pub pinned: Option<PinnedReport>,
    pub layers: Vec<LayerReport>,
}

#[derive(Serialize)]
pub struct ChoiceReport {
    pub name: String,
    pub kind: ChoiceKind,
    pub shared: bool,
    pub options: Vec<String>,
    /// Fixed latency costs per option, where the spec gives them.
    pub costs: Option<Vec<Option<f64>>>,
}

#[derive(Serialize)]
pub struct PinnedReport {
    pub assignment: Vec<(String, String)>,
    pub params: u64,
    pub flops: u64,
    pub bops: u64,
    pub ops: f64,
    /// The pin as text, ready to be saved as a pinned-architecture file.
    pub text: String,
}

#[derive(Serialize)]
pub struct LayerReport {
    pub name: String,
    pub op: &'static str,
    pub out_shape: Shape,
    pub choice: Option<String>,
    pub option: Option<String>,
    pub params: u64,
    pub flops: u64,
    pub bops: u64,
}

pub fn report(space: &Graph, pinned: Option<&(Assignment, Graph)>, spec_path: &str) -> Report {
    let range: CostRange = cost::cost_range(space);
    let shown = pinned.map_or(space, |p| &p.1);
    let costs = cost::node_costs(shown);
    let layers = shown
        .topo_order()
        .into_iter()
        .filter(|&n| !matches!(shown.node(n).op, Op::Input | Op::Output))
        .map(|n| {
            let node = shown.node(n);
            let (choice, option) = match (&node.op, node.alt) {
                (Op::Select { choice }, _) => (Some(shown.choice(*choice).name.clone()), None),
                (_, Some(a)) => {
                    let c = shown.choice(a.choice);
                    (Some(c.name.clone()), Some(c.options[a.option.0 as usize].name.clone()))
                }
                _ => (None, None),
            };
            let c = costs[n.index()];
            LayerReport {
                name: node.name.clone(),
                op: node.op.name(),
                out_shape: node.shape,
                choice,
                option,
                params: c.params,
                flops: c.flops,
                bops: c.bops,
            }
        })
        .collect();
    let pinned_report = pinned.map(|(a, g)| {
        let total = cost::total(g);
        let Cost { params, flops, bops } = total;
        let ops = total.ops();
        PinnedReport {
            assignment: a.settings(space),
            params,
            flops,
            bops,
            ops,
            text: pin::pin_text(space, a, spec_path, &[]),
        }
    });
    let (params_min, params_max, ops_min, ops_max) = match &pinned_report {
        Some(p) => (p.params, p.params, p.ops, p.ops),
        None => (range.params_min, range.params_max, range.ops_min, range.ops_max),
    };
    Report {
        space: space.name.clone(),
        decisions: space.choices.len(),
        choices: space
            .choices
            .iter()
            .map(|c| ChoiceReport {
                name: c.name.clone(),
                kind: c.kind,
                shared: c.shared,
                options: c.options.iter().map(|o| o.name.clone()).collect(),
                costs: c.options.iter().any(|o| o.cost.is_some()).then(|| c.options.iter().map(|o| o.cost).collect()),
            })
            .collect(),
        space_size: space.space_size().to_string(),
        input_shape: space.node(space.input).shape,
        output_shape: space.node(space.output).shape,
        params_min,
        params_max,
        ops_min,
        ops_max,
        supernet_params: range.supernet_params,
        pinned: pinned_report,
        layers,
    }
}
