//! The compiled, immutable form of a mapping: flat tables indexed by small ids,
//! names resolved, variables as slots. `exec` runs it; nothing is looked up by
//! name at run time except input element names against pattern names.

use std::collections::HashMap;
use std::sync::Arc;

use crate::diag::Source;
use crate::syntax::ast::{BinOp, Miss, Policy, SessionType, Span, Type};

pub type RuleId = u32;
pub type TemplateId = u32;
pub type FnId = u32;
pub type TableId = u32;
pub type SessionId = u32;
pub type ModeId = u32;

/// Where a construct was written: which source file, which bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Loc {
    pub source: u16,
    pub span: Span,
}

/// A compiled mapping.
#[derive(Debug)]
pub struct Program {
    pub name: String,
    pub from: String,
    pub to: String,
    pub version: String,
    pub unmapped: Policy,
    /// Where the mapping states its `unmapped` policy.
    pub unmapped_loc: Loc,
    pub sources: Vec<Arc<Source>>,
    pub params: Vec<ParamDef>,
    pub tables: Vec<TableDef>,
    pub sessions: Vec<SessionDef>,
    pub fns: Vec<FnDef>,
    pub templates: Vec<TemplateDef>,
    pub rules: Vec<RuleDef>,
    pub modes: Vec<ModeDef>,
    pub renames: Vec<RenameDef>,
    pub secrets: Vec<Pattern>,
    /// What the secret patterns can name (see [`SecretKinds`]).
    pub secret_kinds: SecretKinds,
    pub drops: Vec<(Pattern, String)>,
    pub documents: Vec<DocumentDef>,
    /// Namespace declarations written on the root of every output document.
    pub output_ns: Vec<(Option<String>, String)>,
    /// (alternative URI, the URI it stands for): input names in the first
    /// match tests written with the second (`namespace p = "A" | "B";`).
    pub ns_aliases: Vec<(String, String)>,
    /// Element names the program's tests mention.
    pub names: NameTable,
    /// Line index of each source, for locations in run-time messages:
    /// built at the first message (most runs have none).
    pub lines: Vec<std::sync::OnceLock<crate::diag::LineIndex>>,
}

#[derive(Debug)]
pub struct ParamDef {
    pub name: String,
    pub ty: Type,
    pub domain: Option<crate::syntax::ast::Domain>,
    pub default: Option<Expr>,
    pub loc: Loc,
}

#[derive(Debug)]
pub struct TableDef {
    pub name: String,
    pub key_ty: Type,
    pub val_ty: Type,
    /// The rows in the order the table lists them (`first_where` walks them).
    pub ordered: Vec<(String, Value)>,
    /// Each key's place in [`Self::ordered`]: lookups by key, and where
    /// `first_where_from` starts.
    pub index: HashMap<String, u32, FxBuild>,
    /// `None`: a miss is an error; `Some(v)`: the default.
    pub default: Option<Value>,
    pub loc: Loc,
}

impl TableDef {
    /// The value of the row whose key is `key`.
    pub fn row(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.ordered[i as usize].1)
    }
}

#[derive(Debug)]
pub struct SessionDef {
    pub name: String,
    pub left: SessionType,
    pub right: SessionType,
    pub miss: Miss,
    pub loc: Loc,
}

#[derive(Debug)]
pub struct FnDef {
    pub name: String,
    pub params: Vec<Type>,
    pub ret: Type,
    pub body: Expr,
    pub frame: u32,
    /// The result depends only on the arguments (and the run's parameters,
    /// tables and input): calls with equal arguments may share one result.
    /// See [`mark_pure_fns`].
    pub pure: bool,
    /// A pure function whose first result is worth keeping: large enough
    /// (its body and the functions it calls) that keeping it pays even if
    /// it is called only twice, or a function of nodes.
    pub keep_first: bool,
    /// Where the function's name is declared.
    pub loc: Loc,
}

#[derive(Debug)]
pub struct TemplateDef {
    pub name: String,
    pub params: Vec<Type>,
    pub body: Vec<Stmt>,
    pub frame: u32,
    /// Where the template's name is declared.
    pub loc: Loc,
}

#[derive(Debug)]
pub struct RuleDef {
    pub pattern: Pattern,
    pub priority: f64,
    /// What a command rule declared it needs (`needs …`).
    pub needs: Option<crate::syntax::ast::Needs>,
    pub body: Vec<Stmt>,
    pub frame: u32,
    pub loc: Loc,
}

/// Template dispatch for one mode: rules by the local name of the element
/// they match, already sorted by descending priority.
#[derive(Debug, Default)]
pub struct ModeDef {
    pub name: String,
    /// Rules for elements with a given name (wildcard rules merged in), by
    /// [`NameId`]; an empty list means only the wildcard rules apply.
    pub by_name: Vec<Vec<RuleId>>,
    /// Rules whose last step matches any element (`*`).
    pub any_elem: Vec<RuleId>,
    pub text: Vec<RuleId>,
    pub root: Vec<RuleId>,
    pub attr: Vec<RuleId>,
}

#[derive(Debug)]
pub struct RenameDef {
    pub attr: bool,
    pub from: NameTest,
    pub from_ty: Type,
    pub to: OutName,
    pub to_ty: Type,
    pub via: Option<Via>,
    pub loc: Loc,
}

#[derive(Debug, Clone, Copy)]
pub enum Via {
    Table(TableId),
    Session { id: SessionId, reverse: bool },
}

#[derive(Debug)]
pub struct DocumentDef {
    pub name: String,
    /// Written as JSON (see [`crate::jsonout`]).
    pub json: bool,
    pub each: Option<Expr>,
    pub file_name: Option<Expr>,
    pub body: Vec<Stmt>,
    pub frame: u32,
    pub loc: Loc,
}

/// A name test against input nodes. `ns: None` means "no namespace";
/// `any_ns` matches any namespace (only for `*`).
#[derive(Debug, Clone, PartialEq)]
pub struct NameTest {
    pub local: Option<String>,
    pub ns: Option<String>,
    pub any_ns: bool,
    /// The interned (namespace, local name) pair, or [`NO_NAME`] for `*`.
    pub id: NameId,
}

/// Interned element name: an index into [`NameTable`].
pub type NameId = u32;

/// Not a name the program mentions (or a wildcard test).
pub const NO_NAME: NameId = u32::MAX;

/// A small, fast hasher for short keys (table keys), as in rustc's FxHash.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

pub type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

/// Every (namespace, local name) the program's element tests mention. Input
/// documents are mapped onto these ids once per run, so matching compares
/// integers, never strings.
#[derive(Debug, Default)]
pub struct NameTable {
    pub names: Vec<(Option<String>, String)>,
    /// Ids by the byte length of the local name: an input name is compared
    /// only with the few names of its length (cheaper than hashing it).
    by_len: Vec<Vec<NameId>>,
}

impl NameTable {
    pub fn intern(&mut self, ns: Option<&str>, local: &str) -> NameId {
        if let Some(ids) = self.by_len.get(local.len()) {
            for &id in ids {
                let (n, l) = &self.names[id as usize];
                if l == local && n.as_deref() == ns {
                    return id;
                }
            }
        }
        let id = self.names.len() as NameId;
        self.names.push((ns.map(str::to_string), local.to_string()));
        if self.by_len.len() <= local.len() {
            self.by_len.resize_with(local.len() + 1, Vec::new);
        }
        self.by_len[local.len()].push(id);
        id
    }

    /// The id of an input element's name, or [`NO_NAME`].
    pub fn lookup(&self, ns: Option<&str>, local: &str) -> NameId {
        let ns = ns.filter(|u| !u.is_empty());
        let Some(ids) = self.by_len.get(local.len()) else {
            return NO_NAME;
        };
        for &id in ids {
            let (n, l) = &self.names[id as usize];
            if l.as_bytes().first() == local.as_bytes().first() && l == local && n.as_deref() == ns
            {
                return id;
            }
        }
        NO_NAME
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

impl NameTest {
    pub fn matches(&self, local: &str, ns: Option<&str>) -> bool {
        if let Some(l) = &self.local {
            if l != local {
                return false;
            }
        }
        self.any_ns || self.ns.as_deref() == ns
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Elem(NameTest),
    Attr(NameTest),
    Text,
    SelfNode,
    Parent,
    /// Predicates over the whole input list (`$v[1]`).
    Filter,
}

/// What the `secret` patterns' last steps can name, so that most nodes
/// (every one a `copy` writes, every one the carried original holds) are
/// passed by without matching a pattern: elements, text nodes, and which
/// attributes by local name.
#[derive(Debug, Default)]
pub struct SecretKinds {
    pub elements: bool,
    pub texts: bool,
    /// The attribute local names a pattern ends in (`None`: any, for `@*`
    /// or a last step that can name anything).
    pub attrs: Option<Vec<String>>,
}

impl SecretKinds {
    pub fn of(patterns: &[Pattern]) -> Self {
        let mut k = SecretKinds {
            elements: false,
            texts: false,
            attrs: Some(Vec::new()),
        };
        for p in patterns {
            match p.steps.last().map(|s| &s.test) {
                Some(Test::Elem(_)) => k.elements = true,
                Some(Test::Text) => k.texts = true,
                Some(Test::Attr(nt)) => match (&mut k.attrs, &nt.local) {
                    (Some(v), Some(l)) => v.push(l.clone()),
                    _ => k.attrs = None,
                },
                // `.`, `..`, a filter, no step: anything.
                _ => {
                    k.elements = true;
                    k.texts = true;
                    k.attrs = None;
                }
            }
        }
        k
    }

    /// Whether some pattern can name an attribute called `local`.
    pub fn attr(&self, local: &str) -> bool {
        self.attrs
            .as_ref()
            .is_none_or(|v| v.iter().any(|n| n == local))
    }
}

#[derive(Debug, Clone)]
pub struct Pattern {
    pub absolute: bool,
    pub any_depth: bool,
    pub steps: Vec<PatStep>,
    pub text: String,
    pub loc: Loc,
}

#[derive(Debug, Clone)]
pub struct PatStep {
    pub test: Test,
    pub preds: Vec<Expr>,
    pub descendant: bool,
    /// A predicate may read `position()` or `last()`: whether a node matches
    /// depends on its siblings, which are all filtered to find out. False
    /// (see [`mark_positional`]) lets a node be tested alone.
    pub positional: bool,
}

/// An output element or attribute name, resolved at compile time.
#[derive(Debug, Clone)]
pub struct OutName {
    /// The name as written (`xsi:type`, `name`).
    pub qname: String,
    pub ns: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl Value {
    pub fn as_string(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub loc: Loc,
}

// Every expression is this size, and the interpreter moves and matches
// them on every step: a variant that grows it (a flag beside a `Vec`) made
// every route 1-3 % slower. Keep new data in a variant of its own or boxed.
const _: () = assert!(std::mem::size_of::<Expr>() <= 48);

/// A list of expressions, fixed once compiled: a boxed slice, two words
/// where a `Vec` takes three, so that [`Expr`] stays at 48 bytes.
pub type Exprs = Box<[Expr]>;

#[derive(Debug, Clone)]
pub enum ExprKind {
    Lit(Value),
    Concat(Exprs),
    Local(u32),
    Global(u32),
    Path {
        start: PathStart,
        steps: Box<[Step]>,
    },
    Builtin(Builtin, Exprs),
    Fn(FnId, Exprs),
    Table(TableId, Box<Expr>),
    /// `table.first_where(f, args…)`: the first key, in the table's order,
    /// for which `f(key, value, args…)` holds (empty when none does).
    TableFirst(TableId, FnId, Exprs),
    /// `table.first_where_from(start, f, args…)`: the same walk from the
    /// row whose key is the first expression (the rest are `f`'s). A
    /// variant of its own: a flag on [`ExprKind::TableFirst`] would make
    /// every expression larger.
    TableFirstFrom(TableId, FnId, Exprs),
    Session {
        id: SessionId,
        reverse: bool,
        /// `find_right`/`find_left`: empty on a miss, no minting.
        probe: bool,
        arg: Box<Expr>,
    },
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Union(Exprs),
}

#[derive(Debug, Clone)]
pub enum PathStart {
    Context,
    Root,
    RootDescendants,
    Local(u32),
    Global(u32),
}

#[derive(Debug, Clone)]
pub struct Step {
    pub descendant: bool,
    pub test: Test,
    pub preds: Vec<Expr>,
}

/// Built-in functions. Arity and argument types are checked at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Concat,
    Upper,
    Lower,
    Substring,
    Replace,
    Split,
    Format,
    Trim,
    Length,
    Contains,
    StartsWith,
    EndsWith,
    Count,
    Position,
    Last,
    Exists,
    Empty,
    Not,
    String,
    Int,
    Uint,
    Bool,
    Size,
    InUnit,
    InUnitCeil,
    Mac,
    Uuid,
    UuidVmware,
    UuidHyperv,
    Hex,
    ToHex,
    Name,
    LocalName,
    Min,
    Max,
    Default,
    Require,
    Join,
    Pad,
    Choose,
    NodeIndex,
    DocOrder,
    Basename,
    Dirname,
    Stem,
    ShellQuote,
}

pub struct BuiltinInfo {
    pub name: &'static str,
    pub min: usize,
    pub max: usize,
    pub ret: Type,
    pub doc: &'static str,
}

macro_rules! builtins {
    ($( $v:ident = $name:literal ($min:expr, $max:expr) -> $ret:ident : $doc:literal ;)*) => {
        pub const BUILTINS: &[(Builtin, BuiltinInfo)] = &[
            $( (Builtin::$v, BuiltinInfo { name: $name, min: $min, max: $max, ret: Type::$ret, doc: $doc }), )*
        ];

        impl Builtin {
            /// What the built-in returns (its [`BuiltinInfo::ret`]), without
            /// a search of [`BUILTINS`].
            pub const fn ret(self) -> Type {
                match self {
                    $( Builtin::$v => Type::$ret, )*
                }
            }
        }
    };
}

builtins! {
    Concat = "concat"(1, usize::MAX) -> String : "joins the string values of its arguments";
    Upper = "upper"(1, 1) -> String : "upper case";
    Lower = "lower"(1, 1) -> String : "lower case";
    Substring = "substring"(2, 3) -> String : "substring(s, start, len?), 0-based, in characters";
    Replace = "replace"(3, 3) -> String : "replace(s, from, to): every occurrence";
    Split = "split"(3, 3) -> String : "split(s, sep, i): the i-th (0-based) field, empty if none";
    Format = "format"(1, usize::MAX) -> String : "format(\"{} of {}\", a, b): `{}` placeholders in order";
    Trim = "trim"(1, 1) -> String : "strips leading and trailing whitespace";
    Length = "length"(1, 1) -> Int : "length in characters";
    Contains = "contains"(2, 2) -> Bool : "substring test";
    StartsWith = "starts_with"(2, 2) -> Bool : "prefix test";
    EndsWith = "ends_with"(2, 2) -> Bool : "suffix test";
    Count = "count"(1, 1) -> Int : "number of nodes";
    Position = "position"(0, 0) -> Int : "1-based position of the context node in its node list";
    Last = "last"(0, 0) -> Int : "size of the context node list";
    Exists = "exists"(1, 1) -> Bool : "true when the node list is not empty";
    Empty = "empty"(1, 1) -> Bool : "true when the node list is empty or the string is empty";
    Not = "not"(1, 1) -> Bool : "boolean negation";
    String = "string"(1, 1) -> String : "string value";
    Int = "int"(1, 1) -> Int : "parses a signed decimal integer (error at the input node on failure)";
    Uint = "uint"(1, 1) -> Int : "parses an unsigned decimal integer";
    Bool = "bool"(1, 1) -> Bool : "parses true/TRUE/yes/on/1 and false/FALSE/no/off/0";
    Size = "size"(1, 2) -> Int : "size(value, unit?) → bytes; units b, KB, KiB, MB, MiB, ... and `byte * 2^20`";
    InUnit = "in_unit"(2, 2) -> Int : "in_unit(bytes, unit): exact conversion (error if not whole)";
    InUnitCeil = "in_unit_ceil"(2, 2) -> Int : "in_unit_ceil(bytes, unit): rounds up";
    Mac = "mac"(1, 1) -> String : "normalises a MAC address to lower-case colon form";
    Uuid = "uuid"(1, 1) -> String : "normalises a UUID (braces, VMware byte form) to 8-4-4-4-12 lower case";
    UuidVmware = "uuid_vmware"(1, 1) -> String : "a UUID in VMware's `56 4d ... -...` byte form";
    UuidHyperv = "uuid_hyperv"(1, 1) -> String : "a UUID in Hyper-V's braced upper-case form";
    Hex = "hex"(1, 1) -> Int : "parses hexadecimal (optional 0x)";
    ToHex = "to_hex"(1, 1) -> String : "formats an integer as 0x-prefixed lower-case hex";
    Name = "name"(0, 1) -> String : "qualified name of a node (context node by default)";
    LocalName = "local_name"(0, 1) -> String : "local name of a node";
    Min = "min"(2, 2) -> Int : "smaller of two integers";
    Max = "max"(2, 2) -> Int : "larger of two integers";
    Default = "default"(2, 2) -> Any : "default(a, b): a unless it is empty, else b";
    Require = "require"(1, 2) -> Any : "require(a, msg?): a, or an error at the context node when empty";
    Join = "join"(2, 2) -> String : "join(nodes, sep): string values joined";
    Pad = "pad"(2, 2) -> String : "pad(n, width): zero-padded decimal";
    Basename = "basename"(1, 1) -> String : "last component of a / or \\ separated path";
    Dirname = "dirname"(1, 1) -> String : "everything before the last path separator (empty if none)";
    Stem = "stem"(1, 1) -> String : "basename without its last extension";
    ShellQuote = "shell_quote"(1, 1) -> String : "the string as one POSIX shell word, for a command a user copies: as it is when it needs no quoting, else in single quotes";
    DocOrder = "doc_order"(0, 1) -> Int : "position of a node (context by default) in document order";
    NodeIndex = "node_index"(0, 1) -> Int : "1-based position of a node (context by default) among its parent's element children";
    Choose = "choose"(3, 3) -> Any : "choose(cond, a, b): a when cond is true, else b (only one is evaluated)";
}

impl Builtin {
    /// Whether a call with `args` reads its context: the position or size
    /// (`position()`, `last()`), or the context node itself (`name()`,
    /// `local_name()`, `doc_order()`, `node_index()` without an argument).
    pub fn reads_context(self, args: &[Expr]) -> bool {
        match self {
            Builtin::Position | Builtin::Last => true,
            Builtin::Name | Builtin::LocalName | Builtin::DocOrder | Builtin::NodeIndex => {
                args.is_empty()
            }
            _ => false,
        }
    }

    /// The declared type of argument `i` (the last one repeats for a
    /// variadic built-in): what `check` holds each argument to, as it does
    /// for a user function's parameters. `string` takes any value (its
    /// string value); `int` takes a node list or a string that parses.
    pub fn param(self, i: usize) -> Type {
        use Builtin as B;
        use Type::{Any, Nodes, String as Str};
        let params: &[Type] = match self {
            B::Substring => &[Str, Type::Int, Type::Int],
            B::Split => &[Str, Str, Type::Int],
            B::Format => &[Str, Any],
            B::Count
            | B::Exists
            | B::Name
            | B::LocalName
            | B::Join
            | B::NodeIndex
            | B::DocOrder => &[Nodes, Str],
            B::Not => &[Type::Bool],
            B::Choose => &[Type::Bool, Any, Any],
            B::InUnit | B::InUnitCeil => &[Type::Int, Str],
            B::ToHex => &[Type::Int],
            B::Min | B::Max | B::Pad => &[Type::Int, Type::Int],
            B::Concat
            | B::Empty
            | B::String
            | B::Int
            | B::Uint
            | B::Bool
            | B::Size
            | B::Default
            | B::Require => &[Any],
            _ => &[Str],
        };
        params[i.min(params.len() - 1)]
    }
}

pub fn builtin_by_name(name: &str) -> Option<(Builtin, &'static BuiltinInfo)> {
    BUILTINS
        .iter()
        .find(|(_, i)| i.name == name)
        .map(|(b, i)| (*b, i))
}

#[derive(Debug, Clone)]
pub enum Stmt {
    Elem {
        name: OutName,
        attrs: Vec<(OutName, Expr)>,
        body: ElemBody,
        loc: Loc,
    },
    Attr {
        name: OutName,
        optional: bool,
        value: Expr,
        loc: Loc,
    },
    Let {
        slot: u32,
        ty: Option<Type>,
        value: Expr,
        loc: Loc,
    },
    If {
        arms: Vec<(Expr, Vec<Stmt>)>,
        otherwise: Vec<Stmt>,
    },
    For {
        slot: u32,
        seq: Expr,
        sort: Vec<(Expr, bool)>,
        body: Vec<Stmt>,
        loc: Loc,
    },
    Match {
        value: Expr,
        arms: Vec<(Vec<Value>, Vec<Stmt>)>,
        default: Option<Vec<Stmt>>,
        loc: Loc,
    },
    Apply {
        select: Option<Expr>,
        mode: ModeId,
        loc: Loc,
    },
    Copy {
        select: Expr,
        loc: Loc,
    },
    Drop {
        select: Expr,
        reason: Arc<str>,
        loc: Loc,
    },
    Call {
        template: TemplateId,
        args: Vec<Expr>,
        loc: Loc,
    },
    Error {
        message: Expr,
        loc: Loc,
    },
    Warn {
        message: Expr,
        /// An `action`: something the user must do.
        action: bool,
        loc: Loc,
    },
    Text {
        value: Expr,
        loc: Loc,
    },
}

impl Stmt {
    /// Where the statement is written (an `if`: its first condition).
    pub fn loc(&self) -> Loc {
        match self {
            Stmt::If { arms, .. } => arms.first().map(|(c, _)| c.loc).unwrap_or_default(),
            Stmt::Elem { loc, .. }
            | Stmt::Attr { loc, .. }
            | Stmt::Let { loc, .. }
            | Stmt::For { loc, .. }
            | Stmt::Match { loc, .. }
            | Stmt::Apply { loc, .. }
            | Stmt::Copy { loc, .. }
            | Stmt::Drop { loc, .. }
            | Stmt::Call { loc, .. }
            | Stmt::Error { loc, .. }
            | Stmt::Warn { loc, .. }
            | Stmt::Text { loc, .. } => *loc,
        }
    }
}

#[derive(Debug, Clone)]
pub enum ElemBody {
    Empty,
    Value { expr: Expr, optional: bool },
    Block(Vec<Stmt>),
}

impl Program {
    /// `file:line:col` of a location in this program's sources.
    /// An input name's namespace as the program's tests spell it: an
    /// alternative URI becomes the one it stands for.
    pub fn canon_ns<'s>(&'s self, ns: Option<&'s str>) -> Option<&'s str> {
        match ns {
            Some(u) if !self.ns_aliases.is_empty() => Some(
                self.ns_aliases
                    .iter()
                    .find(|(a, _)| a == u)
                    .map_or(u, |(_, p)| p.as_str()),
            ),
            other => other,
        }
    }

    pub fn describe(&self, loc: Loc) -> String {
        match (self.sources.get(loc.source as usize), self.line_col(loc)) {
            (Some(s), Some((l, c))) => format!("{}:{l}:{c}", s.name),
            _ => "<unknown>".to_string(),
        }
    }

    /// 1-based line and column of a location in this program's sources.
    pub fn line_col(&self, loc: Loc) -> Option<(usize, usize)> {
        let s = self.sources.get(loc.source as usize)?;
        let at = loc.span.start as usize;
        Some(match self.lines.get(loc.source as usize) {
            Some(ix) => ix
                .get_or_init(|| crate::diag::LineIndex::new(&s.text))
                .line_col(&s.text, at),
            None => s.line_col(at),
        })
    }
}

/// Clears [`PatStep::positional`] on the steps of the program's patterns
/// whose predicates read neither `position()` nor `last()`, themselves or in
/// a function they call. (A predicate whose value is a number is positional
/// too, `[2]`; that shows only when it is evaluated, and the executor checks.)
pub fn mark_positional(p: &mut Program) {
    fn reads(e: &Expr, fns: &[bool]) -> bool {
        let any = |xs: &[Expr]| xs.iter().any(|x| reads(x, fns));
        match &e.kind {
            ExprKind::Lit(_) | ExprKind::Local(_) | ExprKind::Global(_) => false,
            ExprKind::Builtin(Builtin::Position | Builtin::Last, _) => true,
            ExprKind::Concat(xs) | ExprKind::Union(xs) | ExprKind::Builtin(_, xs) => any(xs),
            ExprKind::Path { steps, .. } => steps.iter().any(|s| any(&s.preds)),
            ExprKind::Fn(f, xs)
            | ExprKind::TableFirst(_, f, xs)
            | ExprKind::TableFirstFrom(_, f, xs) => fns[*f as usize] || any(xs),
            ExprKind::Table(_, x) | ExprKind::Neg(x) => reads(x, fns),
            ExprKind::Session { arg, .. } => reads(arg, fns),
            ExprKind::Bin(_, a, b) => reads(a, fns) || reads(b, fns),
        }
    }
    // Which functions read them, to a fixed point (calls may be recursive).
    let mut fns = vec![false; p.fns.len()];
    loop {
        let next: Vec<bool> = p.fns.iter().map(|f| reads(&f.body, &fns)).collect();
        if next == fns {
            break;
        }
        fns = next;
    }
    let patterns = p
        .rules
        .iter_mut()
        .map(|r| &mut r.pattern)
        .chain(p.secrets.iter_mut())
        .chain(p.drops.iter_mut().map(|(d, _)| d));
    for pat in patterns {
        for st in &mut pat.steps {
            st.positional = st.preds.iter().any(|e| reads(e, &fns));
        }
    }
}

/// Marks the functions whose result depends only on their arguments, so a
/// run may compute each distinct call once: the body (and every function it
/// calls) reads no context (`.`, `position()`, `last()`, `name()` without an
/// argument, ...) outside predicates, and probes no session table
/// (`find_right`/`find_left` can answer differently once another lookup has
/// minted). Lookups that mint are stable: the same key gets the same value.
pub fn mark_pure_fns(fns: &mut [FnDef]) {
    fn local_ok(e: &Expr, calls: &mut Vec<FnId>) -> bool {
        let ok = |e: &Expr, calls: &mut Vec<FnId>| local_ok(e, calls);
        match &e.kind {
            ExprKind::Lit(_) | ExprKind::Local(_) | ExprKind::Global(_) => true,
            ExprKind::Concat(xs) | ExprKind::Union(xs) => xs.iter().all(|x| ok(x, calls)),
            ExprKind::Path { start, steps } => {
                !matches!(start, PathStart::Context)
                    && steps
                        .iter()
                        .all(|s| s.preds.iter().all(|p| pred_ok(p, calls)))
            }
            ExprKind::Builtin(b, args) => {
                !b.reads_context(args) && args.iter().all(|x| ok(x, calls))
            }
            ExprKind::Fn(f, args) => {
                calls.push(*f);
                args.iter().all(|x| ok(x, calls))
            }
            ExprKind::Table(_, x) | ExprKind::Neg(x) => ok(x, calls),
            ExprKind::TableFirst(_, f, args) | ExprKind::TableFirstFrom(_, f, args) => {
                calls.push(*f);
                args.iter().all(|x| ok(x, calls))
            }
            ExprKind::Session { probe, arg, .. } => !probe && ok(arg, calls),
            ExprKind::Bin(_, a, b) => ok(a, calls) && ok(b, calls),
        }
    }
    // Inside a predicate the context is the node being filtered, which the
    // path's start determines: only probes and impure calls matter there.
    fn pred_ok(e: &Expr, calls: &mut Vec<FnId>) -> bool {
        let all = |xs: &[Expr], calls: &mut Vec<FnId>| xs.iter().all(|x| pred_ok(x, calls));
        match &e.kind {
            ExprKind::Lit(_) | ExprKind::Local(_) | ExprKind::Global(_) => true,
            ExprKind::Concat(xs) | ExprKind::Union(xs) | ExprKind::Builtin(_, xs) => all(xs, calls),
            ExprKind::Path { steps, .. } => steps.iter().all(|s| all(&s.preds, calls)),
            ExprKind::Fn(f, args) => {
                calls.push(*f);
                all(args, calls)
            }
            ExprKind::Table(_, x) | ExprKind::Neg(x) => pred_ok(x, calls),
            ExprKind::TableFirst(_, f, args) | ExprKind::TableFirstFrom(_, f, args) => {
                calls.push(*f);
                all(args, calls)
            }
            ExprKind::Session { probe, arg, .. } => !probe && pred_ok(arg, calls),
            ExprKind::Bin(_, a, b) => pred_ok(a, calls) && pred_ok(b, calls),
        }
    }
    let mut calls: Vec<Vec<FnId>> = Vec::with_capacity(fns.len());
    for f in fns.iter_mut() {
        let mut c = Vec::new();
        f.pure = local_ok(&f.body, &mut c);
        calls.push(c);
    }
    // Size of each body in expressions, with the sizes of the functions it
    // calls (each counted once, cycles cut), against the threshold.
    fn size(e: &Expr) -> usize {
        let all = |xs: &[Expr]| xs.iter().map(size).sum::<usize>();
        1 + match &e.kind {
            ExprKind::Lit(_) | ExprKind::Local(_) | ExprKind::Global(_) => 0,
            ExprKind::Concat(xs) | ExprKind::Union(xs) | ExprKind::Builtin(_, xs) => all(xs),
            ExprKind::Fn(_, xs)
            | ExprKind::TableFirst(_, _, xs)
            | ExprKind::TableFirstFrom(_, _, xs) => all(xs),
            ExprKind::Path { steps, .. } => steps.iter().map(|s| 1 + all(&s.preds)).sum(),
            ExprKind::Table(_, x) | ExprKind::Neg(x) => size(x),
            ExprKind::Session { arg, .. } => size(arg),
            ExprKind::Bin(_, a, b) => size(a) + size(b),
        }
    }
    const HEAVY: usize = 24;
    for i in 0..fns.len() {
        let mut seen = vec![false; fns.len()];
        let mut todo = vec![i];
        let mut total = 0;
        while let Some(f) = todo.pop() {
            if std::mem::replace(&mut seen[f], true) {
                continue;
            }
            total += size(&fns[f].body);
            todo.extend(
                calls[f]
                    .iter()
                    .map(|&c| c as usize)
                    .filter(|&c| c < fns.len()),
            );
        }
        // A function of a node (`disk_bus(d: nodes)`) tends to be asked
        // about the same node again; one of strings mostly is not.
        fns[i].keep_first = total >= HEAVY || fns[i].params.contains(&Type::Nodes);
    }
    // A function is pure when its callees are: drop purity until nothing changes.
    loop {
        let mut changed = false;
        for i in 0..fns.len() {
            if fns[i].pure
                && calls[i]
                    .iter()
                    .any(|&c| !fns.get(c as usize).is_some_and(|f| f.pure))
            {
                fns[i].pure = false;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

/// The mode every mapping has: `apply` without `mode`.
pub const DEFAULT_MODE: ModeId = 0;

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Program>();
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::compile::{compile, FsResolver};
    use crate::diag::Source;

    fn program(fns: &str) -> super::Program {
        let text = format!(
            "mapping \"t\" {{ from kvm to hvx version \"1\" }}\n\
             unmapped report;\n\
             session ids: string <-> string miss mint \"id{{n}}\";\n{fns}\n\
             on domain {{ <vm> = name; }}\n"
        );
        let src = Arc::new(Source {
            name: "t.hvx".into(),
            path: None,
            text,
        });
        let (p, d) = compile(src, &FsResolver { embedded: &[] });
        p.unwrap_or_else(|| panic!("{d:?}"))
    }

    fn flags(p: &super::Program, name: &str) -> (bool, bool) {
        let f = p.fns.iter().find(|f| f.name == name).unwrap();
        (f.pure, f.keep_first)
    }

    #[test]
    fn secret_kinds_name_what_the_patterns_can() {
        let kinds = |secrets: &str| super::SecretKinds::of(&program(secrets).secrets);
        let k = kinds("");
        assert!(!k.elements && !k.texts && !k.attr("passwd"));
        let k = kinds("secret graphics/@passwd; secret @key;");
        assert!(!k.elements && !k.texts);
        assert!(k.attr("passwd") && k.attr("key") && !k.attr("type"));
        let k = kinds("secret graphics/@*;");
        assert!(!k.elements && k.attr("anything"));
        let k = kinds("secret title/text();");
        assert!(!k.elements && k.texts && !k.attr("passwd"));
        let k = kinds("secret disk[@type = \"x\"]/secret;");
        assert!(k.elements && !k.texts && !k.attr("passwd"));
    }

    #[test]
    fn pure_functions_read_only_their_arguments() {
        let p = program(
            "fn bus(d: nodes) -> string = default($d/target/@bus, \"ide\");\n\
             fn first(d: nodes) -> string = $d/disk[position() = 1]/@type;\n\
             fn pos() -> int = position();\n\
             fn here() -> string = name;\n\
             fn via(d: nodes) -> int = pos() + 1;\n\
             fn probe(k: string) -> string = ids.find_right($k);\n\
             fn mint(k: string) -> string = ids.right($k);\n\
             fn wraps(k: string) -> string = probe($k);\n\
             fn rec(n: int) -> int = choose($n < 1, 0, rec($n - 1));",
        );
        // Context inside a predicate is the filtered node: still pure.
        for f in ["bus", "first", "mint", "rec"] {
            assert!(flags(&p, f).0, "{f} should be pure");
        }
        for f in ["pos", "here", "via", "probe", "wraps"] {
            assert!(!flags(&p, f).0, "{f} should not be pure");
        }
    }

    #[test]
    fn keep_first_counts_the_functions_called() {
        let p = program(
            "fn small(s: string) -> string = upper($s);\n\
             fn big(s: string) -> string = concat(small($s), small($s), small($s), small($s), \
               small($s), small($s), small($s), small($s), small($s), small($s), small($s), \
               small($s), small($s));",
        );
        assert!(!flags(&p, "small").1);
        assert!(flags(&p, "big").1);
    }
}
