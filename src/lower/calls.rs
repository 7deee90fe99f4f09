//! Lowering calls: blocks, layers and functions, with their arguments bound and checked.

use super::*;

impl Lowerer<'_> {
    pub(super) fn call(
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
    pub(super) fn bind_args(
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

    pub(super) fn coerce(&mut self, v: Value, ty: Type, span: Span, what: &str) -> Value {
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

    pub(super) fn layer_call(
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

    pub(super) fn function(
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
