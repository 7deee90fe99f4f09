//! Lowering expressions: literals, names, arithmetic, comparisons and logic.

use super::*;

impl Lowerer<'_> {
    pub(super) fn eval(&mut self, e: &Expr, env: &Env) -> Value {
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

    pub(super) fn logic(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr, env: &Env) -> Value {
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

    pub(super) fn binary(&mut self, op: BinOp, a: Value, b: Value, span: Span) -> Value {
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
