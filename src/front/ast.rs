//! The syntax tree of a `.lnas` file: what the user wrote, with spans, before any evaluation.

use super::source::{FileId, Span};

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct File {
    pub id: FileId,
    pub items: Vec<Item>,
}

#[derive(Clone, Debug)]
pub enum Item {
    Import(Import),
    Block(BlockDef),
    Pin(PinDef),
}

#[derive(Clone, Debug)]
pub struct Import {
    pub path: String,
    pub span: Span,
}

/// Whether a definition is a reusable block or a search space (an entry point).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefKind {
    Block,
    Space,
}

#[derive(Clone, Debug)]
pub struct BlockDef {
    pub kind: DefKind,
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// The declared type of a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Tensor,
    Int,
    Float,
    Bool,
    Str,
    Shape,
}

impl Type {
    pub fn from_name(name: &str) -> Option<Type> {
        Some(match name {
            "tensor" => Type::Tensor,
            "int" => Type::Int,
            "float" => Type::Float,
            "bool" => Type::Bool,
            "str" => Type::Str,
            "shape" => Type::Shape,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Type::Tensor => "tensor",
            Type::Int => "int",
            Type::Float => "float",
            Type::Bool => "bool",
            Type::Str => "str",
            Type::Shape => "shape",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: Ident,
    /// Untyped parameters are tensors (`block dense(x, growth: int)`).
    pub ty: Type,
    pub ty_span: Option<Span>,
    pub default: Option<Expr>,
}

#[derive(Clone, Debug)]
pub enum Stmt {
    Let {
        name: Ident,
        value: Expr,
    },
    /// `repeat [i in] count [as label] { ... }`: `i` counts from 1.
    Repeat {
        var: Option<Ident>,
        count: Expr,
        label: Option<Ident>,
        body: Vec<Stmt>,
        span: Span,
    },
    Return {
        value: Expr,
        span: Span,
    },
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Clone, Debug)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

#[derive(Clone, Debug)]
pub struct Alternative {
    pub name: Ident,
    pub value: Expr,
    pub cost: Option<f64>,
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    List(Vec<Expr>),
    Var(Ident),
    /// A call of a block, layer or function. `piped` records `x |> f(..)` (the input is `args[0]`).
    Call {
        callee: Ident,
        args: Vec<Arg>,
        label: Option<Ident>,
        piped: bool,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Unary {
        op: UnOp,
        operand: Box<Expr>,
    },
    Choice {
        name: Ident,
        shared: bool,
        alternatives: Vec<Alternative>,
    },
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    Block {
        stmts: Vec<Stmt>,
        value: Box<Expr>,
    },
}

/// `pin NAME(args) from "spec.lnas" { path = option ... }`
#[derive(Clone, Debug)]
pub struct PinDef {
    pub space: Ident,
    pub args: Vec<Arg>,
    pub from: String,
    pub from_span: Span,
    pub entries: Vec<PinEntry>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct PinEntry {
    pub path: String,
    pub path_span: Span,
    pub option: Ident,
}
