//! Pinned architectures: an assignment of an option to every choice, the ways a user writes one
//! (`name=option,...`, `random[:SEED]`, the original's MeliusNet config string, a `pin` file), and
//! the pinning pass that keeps the chosen alternatives and drops the rest.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use petgraph::stable_graph::{NodeIndex, StableGraph};

use super::{Alt, ChoiceId, Graph, Node, Op, OptionIx};
use crate::front::source::Span;

/// One option per choice (indexed by `ChoiceId`); `None` for choices inside alternatives that are
/// not taken, which need no option.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Assignment(pub Vec<Option<OptionIx>>);

/// A problem with an assignment, with the place it was written if known.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct PinError {
    pub message: String,
    pub hint: String,
    pub span: Option<Span>,
}

impl PinError {
    fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        PinError { message: message.into(), hint: hint.into(), span: None }
    }
}

/// One `choice = option` line of a pin, as written.
#[derive(Clone, Debug)]
pub struct PinSetting {
    pub choice: String,
    pub option: String,
    pub span: Option<Span>,
}

impl Assignment {
    pub fn get(&self, c: ChoiceId) -> Option<OptionIx> {
        self.0.get(c.0 as usize).copied().flatten()
    }

    /// Whether the alternative is taken (its choice and all enclosing ones are assigned to it).
    pub fn selects(&self, g: &Graph, alt: Option<Alt>) -> bool {
        g.alt_chain(alt).iter().all(|a| self.get(a.choice) == Some(a.option))
    }

    /// Choices that must be assigned under this assignment: those whose enclosing alternatives are
    /// all taken.
    pub fn active(&self, g: &Graph) -> Vec<ChoiceId> {
        (0..g.choices.len() as u32).map(ChoiceId).filter(|&c| self.selects(g, g.choice(c).parent)).collect()
    }

    /// Check completeness: every active choice has an option in range.
    pub fn validate(&self, g: &Graph) -> Result<(), PinError> {
        let missing: Vec<&str> = self
            .active(g)
            .into_iter()
            .filter(|&c| self.get(c).is_none_or(|o| o.0 as usize >= g.choice(c).options.len()))
            .map(|c| g.choice(c).name.as_str())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let shown: Vec<&str> = missing.iter().take(5).copied().collect();
        Err(PinError::new(
            format!(
                "{} choice(s) have no option: {}{}",
                missing.len(),
                shown.join(", "),
                if missing.len() > 5 { ", ..." } else { "" }
            ),
            "a pinned architecture assigns every choice; `lightnasc check SPEC --format json` lists them",
        ))
    }

    /// From `name = option` settings (a pin file or `--pin a=b,c=d`).
    pub fn from_settings(g: &Graph, settings: &[PinSetting]) -> Result<Assignment, Vec<PinError>> {
        let mut a = Assignment(vec![None; g.choices.len()]);
        let mut errors = vec![];
        let mut seen: HashSet<&str> = HashSet::new();
        for s in settings {
            let fail = |m: String, h: String| PinError { message: m, hint: h, span: s.span };
            if !seen.insert(s.choice.as_str()) {
                errors.push(fail(
                    format!("choice `{}` is assigned twice", s.choice),
                    "keep one assignment per choice".into(),
                ));
                continue;
            }
            let Some(cid) = g.choice_by_name(&s.choice) else {
                errors.push(fail(
                    format!("the space has no choice `{}`", s.choice),
                    closest_hint(&s.choice, g.choices.iter().map(|c| c.name.as_str())),
                ));
                continue;
            };
            let c = g.choice(cid);
            match c.options.iter().position(|o| o.name == s.option) {
                Some(o) => a.0[cid.0 as usize] = Some(OptionIx(o as u32)),
                None => errors.push(fail(
                    format!("choice `{}` has no option `{}`", s.choice, s.option),
                    format!(
                        "its options are: {}",
                        c.options.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )),
            }
        }
        if errors.is_empty()
            && let Err(e) = a.validate(g)
        {
            errors.push(e);
        }
        if errors.is_empty() { Ok(a) } else { Err(errors) }
    }

    /// Uniformly random options from a seed (SplitMix64, so the same seed gives the same pin on
    /// every platform and version).
    pub fn random(g: &Graph, seed: u64) -> Assignment {
        let mut rng = crate::util::SplitMix64(seed);
        let opts: Vec<Option<OptionIx>> =
            g.choices.iter().map(|c| Some(OptionIx(rng.below(c.options.len() as u64) as u32))).collect();
        Assignment(opts)
    }

    /// From the original LightNAS/BMXNet MeliusNet config string, e.g.
    /// `DIDIDIDITDIDIDIDIDITDIDIDIDITDIDIDIDI`: `D` a dense block (3x3), `S` a dense block replaced
    /// by its 1x1 conv, `I` an improvement block after the preceding dense block (absent: skipped),
    /// `T` a transition. Choices are matched in order: each dense block's choice must have options
    /// `full`/`cheap` and each improvement block's `yes`/`skip` (as `std/melius.lnas` declares them).
    pub fn from_melius(g: &Graph, config: &str) -> Result<Assignment, PinError> {
        let mut decisions: Vec<(&str, usize)> = vec![]; // (option, segment of the string) per choice, in order
        let stages: Vec<&str> = config.split('T').collect();
        for (seg, stage) in stages.iter().enumerate() {
            let chars: Vec<char> = stage.chars().collect();
            let mut i = 0;
            while i < chars.len() {
                let dense = match chars[i] {
                    'D' => "full",
                    'S' => "cheap",
                    'I' => {
                        return Err(PinError::new(
                            format!("`I` at position {} does not follow a dense block", i + 1),
                            "each improvement block `I` follows a dense block `D` or `S`",
                        ));
                    }
                    c => {
                        return Err(PinError::new(
                            format!("unexpected `{c}` in the MeliusNet config string"),
                            "the letters are D (dense), S (dense replaced by 1x1), I (improvement) and T (transition)",
                        ));
                    }
                };
                let improvement = if chars.get(i + 1) == Some(&'I') { "yes" } else { "skip" };
                decisions.push((dense, seg));
                decisions.push((improvement, seg));
                i += if improvement == "yes" { 2 } else { 1 };
            }
        }
        if decisions.len() != g.choices.len() {
            return Err(PinError::new(
                format!(
                    "the config string describes {} dense blocks ({} decisions); the space has {} decisions",
                    decisions.len() / 2,
                    decisions.len(),
                    g.choices.len()
                ),
                "write one D or S per dense block of the space, stages separated by T",
            ));
        }
        let stage_of = |name: &str| name.split('.').next().unwrap_or("").to_string();
        let n_stages = {
            let mut v: Vec<String> = g.choices.iter().map(|c| stage_of(&c.name)).collect();
            v.dedup();
            v.len()
        };
        if n_stages != stages.len() {
            return Err(PinError::new(
                format!("the config string has {} stages; the space has {n_stages}", stages.len()),
                format!("separate the {n_stages} stages with {} `T`", n_stages.saturating_sub(1)),
            ));
        }
        let mut a = Assignment(vec![None; g.choices.len()]);
        for (i, (option, _)) in decisions.iter().enumerate() {
            let c = &g.choices[i];
            let ix = c.options.iter().position(|o| o.name == *option).ok_or_else(|| {
                PinError::new(
                    format!("choice `{}` has no option `{option}`", c.name),
                    "MeliusNet config strings apply to spaces built from `std/melius.lnas` blocks",
                )
            })?;
            a.0[i] = Some(OptionIx(ix as u32));
        }
        // Stage boundaries must line up with the spec's stages.
        for k in 1..decisions.len() {
            let same_segment = decisions[k].1 == decisions[k - 1].1;
            let same_stage = stage_of(&g.choices[k].name) == stage_of(&g.choices[k - 1].name);
            if same_segment != same_stage {
                return Err(PinError::new(
                    format!(
                        "stage {} of the config string does not match `{}` of the space",
                        decisions[k - 1].1 + 1,
                        stage_of(&g.choices[k - 1].name)
                    ),
                    "count the D/S letters of each stage: one per dense block of that stage",
                ));
            }
        }
        Ok(a)
    }

    /// Render as `name=option` settings, one per line (the body of a `pin` item).
    pub fn settings(&self, g: &Graph) -> Vec<(String, String)> {
        self.active(g)
            .into_iter()
            .filter_map(|c| {
                self.get(c).map(|o| (g.choice(c).name.clone(), g.choice(c).options[o.0 as usize].name.clone()))
            })
            .collect()
    }
}

/// The text of a pin file for this assignment.
pub fn pin_text(g: &Graph, a: &Assignment, spec_path: &str, args: &[(String, String)]) -> String {
    let mut s = String::new();
    let args = if args.is_empty() {
        String::new()
    } else {
        format!("({})", args.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "))
    };
    let _ = writeln!(s, "pin {}{args} from \"{}\" {{", g.name, spec_path.replace('\\', "\\\\").replace('"', "\\\""));
    for (c, o) in a.settings(g) {
        let _ = writeln!(s, "    {c} = {o}");
    }
    s.push_str("}\n");
    s
}

fn closest_hint<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    match crate::util::closest(name, candidates) {
        Some(c) => format!("did you mean `{c}`?"),
        None => "`lightnasc check SPEC --format json` lists the choices".into(),
    }
}

/// The pinning pass: keep the chosen alternatives, drop the others, bypass the `Select` nodes.
pub fn pin(g: &Graph, a: &Assignment) -> Result<Graph, PinError> {
    a.validate(g)?;
    let mut out: StableGraph<Node, super::Port> = StableGraph::new();
    let mut map: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    for n in g.topo_order() {
        let node = g.node(n);
        if !a.selects(g, node.alt) {
            continue;
        }
        let inputs = g.inputs(n);
        if let Op::Select { choice } = node.op {
            let o = a.get(choice).expect("validated").0 as usize;
            map.insert(n, map[&inputs[o]]);
            continue;
        }
        let mut copy = node.clone();
        copy.alt = None;
        let m = out.add_node(copy);
        for (port, i) in inputs.iter().enumerate() {
            out.add_edge(map[i], m, super::Port(port as u32));
        }
        map.insert(n, m);
    }
    Ok(Graph {
        name: g.name.clone(),
        nodes: out,
        choices: vec![],
        input: map[&g.input],
        output: map[&g.output],
        classes: g.classes,
        instances: g.instances.clone(),
    })
}
