//! Lowering choices: registering a decision, evaluating each option, merging sub-graphs and
//! forking the rest of a block per value option.

use super::*;

impl Lowerer<'_> {
    /// Register a choice, evaluate its options and, if they are sub-graphs, merge them.
    pub(super) fn eval_choice(
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

    pub(super) fn register_choice(
        &mut self,
        name: &ast::Ident,
        shared: bool,
        alternatives: &[ast::Alternative],
    ) -> ChoiceId {
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
    pub(super) fn in_each_option<T>(&mut self, cid: ChoiceId, mut f: impl FnMut(&mut Self, usize) -> T) -> Vec<T> {
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
    pub(super) fn merge_options(&mut self, cid: ChoiceId, values: &[Value]) -> Value {
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
    pub(super) fn fork(&mut self, cid: ChoiceId, var: &str, values: Vec<Value>, rest: &[Stmt], env: &Env) -> Value {
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
}
