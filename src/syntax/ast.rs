//! The abstract syntax tree of a mapping file, with byte spans into its source.
//! It is serde-serialisable: `build.rs` parses the shipped mappings at build
//! time and embeds their trees (see `crate::compile::prebuilt`).

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// A byte range in one mapping file's source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(from = "(u32, u32)", into = "(u32, u32)")]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl From<(u32, u32)> for Span {
    fn from((start, end): (u32, u32)) -> Self {
        Span { start, end }
    }
}

impl From<Span> for (u32, u32) {
    fn from(s: Span) -> Self {
        (s.start, s.end)
    }
}

impl Span {
    pub fn new(r: Range<usize>) -> Self {
        Span {
            start: r.start as u32,
            end: r.end as u32,
        }
    }
    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A name with the span it was written at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// One parsed mapping (or library) file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct File {
    pub header: Option<Header>,
    pub uses: Vec<(String, Span)>,
    pub namespaces: Vec<(Ident, String)>,
    /// Further URIs that input names in a namespace may have (`namespace p =
    /// "A" | "B";`): (the first URI, an alternative, its span, declared for
    /// output).
    pub ns_aliases: Vec<NsAlias>,
    /// Prefixes declared `input namespace p = "..."`: for patterns and paths
    /// only, never declared on output documents.
    pub input_only: Vec<String>,
    pub input_ns: Option<(String, Span)>,
    pub output_ns: Option<(String, Span)>,
    pub unmapped: Option<(Policy, Span)>,
    pub params: Vec<Param>,
    pub tables: Vec<Table>,
    pub sessions: Vec<SessionDecl>,
    pub fns: Vec<FnDecl>,
    pub renames: Vec<Rename>,
    pub secrets: Vec<Pattern>,
    pub drops: Vec<(Pattern, String)>,
    pub documents: Vec<Document>,
    pub rules: Vec<Rule>,
    pub templates: Vec<NamedTemplate>,
}

/// An alternative URI of a namespace (see [`File::ns_aliases`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NsAlias {
    pub primary: String,
    pub alias: String,
    pub span: Span,
    pub output: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub span: Span,
    pub from: Option<Ident>,
    pub to: Option<Ident>,
    pub version: Option<String>,
    pub description: Option<String>,
}

/// What happens to input nodes that no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Policy {
    Fail,
    Report,
    Copy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Type {
    String,
    Int,
    Uint,
    Bool,
    Nodes,
    Any,
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Int => "int",
            Type::Uint => "uint",
            Type::Bool => "bool",
            Type::Nodes => "nodes",
            Type::Any => "any",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Param {
    pub name: Ident,
    pub ty: Type,
    /// The values `--param` may give (`in 1..64`, `in ("a", "b")`).
    pub domain: Option<Domain>,
    pub default: Option<Expr>,
}

/// The values a parameter takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Domain {
    /// Integers from the first to the second, both included.
    Range(i64, i64),
    /// One of these strings.
    OneOf(Vec<String>),
}

impl std::fmt::Display for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Domain::Range(a, b) => write!(f, "an integer from {a} to {b}"),
            Domain::OneOf(v) => {
                let q: Vec<String> = v.iter().map(|s| format!("`{s}`")).collect();
                write!(f, "one of {}", q.join(", "))
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    pub name: Ident,
    pub key_ty: Type,
    pub val_ty: Type,
    pub rows: Vec<TableRow>,
    pub default: Option<(Option<Lit>, Span)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableRow {
    pub keys: Vec<(Lit, Span)>,
    pub value: Lit,
    pub span: Span,
}

/// Types a session table side can have; keys are normalised by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionType {
    String,
    Int,
    Uint,
    Uuid,
    Mac,
}

impl SessionType {
    pub fn name(self) -> &'static str {
        match self {
            SessionType::String => "string",
            SessionType::Int => "int",
            SessionType::Uint => "uint",
            SessionType::Uuid => "uuid",
            SessionType::Mac => "mac",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Miss {
    /// Mint a value: deterministic UUIDv5 for uuid sides, or a pattern with `{n}`.
    Mint(Option<String>),
    /// Fail, with an optional hint telling the user how to seed the entry.
    Fail(Option<String>),
    /// Pair the key with the same value on the other side.
    Same,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionDecl {
    pub name: Ident,
    pub left: SessionType,
    pub right: SessionType,
    pub miss: Miss,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FnDecl {
    pub name: Ident,
    pub params: Vec<(Ident, Type)>,
    pub ret: Type,
    pub body: Expr,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Field {
    pub attr: bool,
    pub name: Ident,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rename {
    pub from: Field,
    pub from_ty: Type,
    pub to: Field,
    pub to_ty: Type,
    pub via: Option<(Ident, bool)>,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    pub name: Ident,
    /// Written as JSON (`document NAME json …`).
    pub json: bool,
    pub each: Option<Expr>,
    pub file_name: Option<Expr>,
    pub body: Block,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rule {
    pub pattern: Pattern,
    pub mode: Option<Ident>,
    pub priority: Option<(i32, Span)>,
    /// `needs nothing` / `needs context "why"` (command mappings).
    pub needs: Option<Needs>,
    pub body: Block,
    pub span: Span,
}

/// What a command rule declares it needs to translate its command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Needs {
    /// A direct translation: the command alone says everything.
    Nothing,
    /// The VM's current configuration (the request's `hvx:context`), for
    /// the reason given.
    Context(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedTemplate {
    pub name: Ident,
    pub params: Vec<(Ident, Type)>,
    pub body: Block,
}

/// A match pattern: steps read left to right, matched right to left.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pattern {
    pub absolute: bool,
    /// `//` at the start: any depth.
    pub any_depth: bool,
    pub steps: Vec<PatStep>,
    pub span: Span,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PatStep {
    pub test: NodeTest,
    pub preds: Vec<Expr>,
    /// True when this step is separated from the previous one by `//`.
    pub descendant: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NodeTest {
    Elem(Option<QName>),
    Attr(Option<QName>),
    Text,
    SelfNode,
    Parent,
    /// Predicates applied to a variable's whole node list (`$v[1]`).
    Filter,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct QName {
    pub prefix: Option<String>,
    pub local: String,
    pub span: Span,
}

pub type Block = Vec<Stmt>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Stmt {
    Elem {
        name: Ident,
        attrs: Vec<(Ident, Expr)>,
        body: ElemBody,
        span: Span,
    },
    Attr {
        name: Ident,
        optional: bool,
        value: Expr,
        span: Span,
    },
    Let {
        var: Ident,
        ty: Option<Type>,
        value: Expr,
        span: Span,
    },
    If {
        arms: Vec<(Expr, Block)>,
        otherwise: Option<Block>,
        span: Span,
    },
    For {
        var: Ident,
        seq: Expr,
        sort: Vec<(Expr, bool)>,
        body: Block,
        span: Span,
    },
    Match {
        value: Expr,
        arms: Vec<(Vec<(Lit, Span)>, Block)>,
        default: Option<Block>,
        span: Span,
    },
    Apply {
        select: Option<Expr>,
        mode: Option<Ident>,
        span: Span,
    },
    Copy {
        select: Expr,
        span: Span,
    },
    Drop {
        select: Expr,
        reason: String,
        span: Span,
    },
    Call {
        name: Ident,
        args: Vec<Expr>,
        span: Span,
    },
    Error {
        message: Expr,
        span: Span,
    },
    /// `warn` (`action: false`) or `action`: a warning that asks the user
    /// to do something (convert an image), printed by default.
    Warn {
        message: Expr,
        action: bool,
        span: Span,
    },
    Text {
        value: Expr,
        span: Span,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ElemBody {
    Empty,
    Value { expr: Expr, optional: bool },
    Block(Block),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Lit {
    Str(String),
    Int(i64),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ExprKind {
    Lit(Lit),
    /// A string literal with `{expr}` interpolations.
    Interp(Vec<InterpPart>),
    Var(Ident),
    /// A path, optionally starting from a variable.
    Path(PathExpr),
    Call {
        name: Ident,
        method: Option<Ident>,
        args: Vec<Expr>,
    },
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// `a | b`: the nodes of both, in document order, without duplicates.
    Union(Vec<Expr>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum InterpPart {
    Text(String),
    Expr(Expr),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PathStart {
    Context,
    Root,
    /// `//` at the start: every descendant of the root.
    RootDescendants,
    Var(Ident),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathExpr {
    pub start: PathStart,
    pub steps: Vec<PathStep>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathStep {
    pub descendant: bool,
    pub test: NodeTest,
    pub preds: Vec<Expr>,
}
