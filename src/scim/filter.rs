//! RFC 7644 §3.4.2.2 filters: parse (bounded) and evaluate.
//!
//! # Grammar
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"
//! valuePath = attrPath "[" valFilter "]"
//! attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)
//! logExp    = FILTER SP ("and" / "or") SP FILTER
//! compValue = false / null / true / number / string
//! ```
//!
//! Precedence is `not` > `and` > `or`; `and`/`or` chains are flat (n-ary) nodes. Keywords,
//! operators and `true`/`false`/`null` are case-insensitive, as are attribute names
//! (resolved through [`schema::resolve`]). Strings are JSON strings (escapes included) and
//! numbers are JSON numbers. Tokens are separated by whitespace or punctuation.
//!
//! # Bounds
//!
//! A filter longer than [`MAX_FILTER_LEN`] bytes is rejected before it is lexed. While parsing,
//! the number of open groupings (parentheses, `not (`, value filters `[`) never exceeds
//! [`MAX_FILTER_DEPTH`], so hostile nesting cannot exhaust the stack; after parsing, the
//! expression tree (`and`, `or`, `not` and value-filter nodes) must not be deeper than
//! [`MAX_FILTER_DEPTH`] either. Evaluation recursion is therefore bounded too.
//!
//! # Semantics
//!
//! * Every attribute must exist in the schema tables and be `filterable` (so `password` is
//!   refused). A sub-attribute of a simple attribute is an unknown attribute. `schemas` (RFC
//!   7643 §3, not in the attribute tables) is known here as a multi-valued, case-insensitive
//!   reference so that the RFC 7644 example `schemas eq "urn:…"` works.
//! * A complex attribute compared without a sub-attribute is compared through its `value`
//!   sub-attribute if it has one (`emails co "x"` ≡ `emails.value co "x"`, likewise `roles`,
//!   `manager`); otherwise (`name`, `meta`) only `pr` is allowed.
//! * Strings honour the attribute's `caseExact`; otherwise both sides are compared after full
//!   Unicode lowercasing. `gt ge lt le` on strings are lexical (by code point, after folding).
//! * `co sw ew` apply to string and reference attributes only. `gt ge lt le` apply to strings,
//!   numbers and dateTimes, not to booleans, binaries or complex attributes.
//! * dateTime attributes take a string literal that is an RFC 3339 / xsd:dateTime
//!   (`YYYY-MM-DDTHH:MM:SS[.frac][Z|±HH:MM]`, no zone meaning UTC) and compare as instants.
//! * A literal of the wrong type (a string for a boolean, a number for a string, …) is a client
//!   error: invalidFilter.
//! * Multi-valued attributes match if **any** value matches. `ne` matches if the attribute is
//!   absent or any value differs (so absent ⇒ true). A stored value of an unexpected JSON type
//!   never equals the literal.
//! * `pr`: the attribute has a non-null value that is not an empty string, empty array or
//!   empty object (an object or array whose members are all absent is not present either).
//! * `attr eq null` means "attr is not present" and `attr ne null` means "attr is present";
//!   other operators with `null` are invalidFilter.
//! * A value filter `attr[...]` matches if one element of `attr` satisfies the whole inner
//!   filter; `attr[...].sub` is a PATCH path, not a filter, and is rejected here.
//!
//! Error details name the 0-based byte position in the filter where the problem was found.

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Number, Value};

use super::error::{ScimError, ScimResult};
use super::schema::{self, Attribute, Kind, Mutability, Resolved, Returned, Schema, Uniqueness};

/// Longest filter accepted, in bytes; longer is invalidFilter.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not`, value filters and logical operators; deeper is
/// invalidFilter.
pub const MAX_FILTER_DEPTH: usize = 16;

/// A parsed filter: either over a whole User ([`parse`]) or over one element of a
/// multi-valued complex attribute ([`parse_value_filter`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    expr: Expr,
    scope: Scope,
}

/// An equality the store can answer from an index. The string is the literal as given; the
/// store applies the attribute's case rules (userName is case-insensitive, id and externalId
/// case-exact, email values case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexKey {
    UserName(String),
    ExternalId(String),
    Id(String),
    Email(String),
}

/// Parses a filter over the User resource (the `filter` query parameter or `filter` of a
/// `.search` request, already URL-decoded).
pub fn parse(input: &str) -> ScimResult<Filter> {
    let expr = parse_expr(input, None)?;
    Ok(Filter { expr, scope: Scope::Resource })
}

/// The expression inside `attr[...]`, where names are sub-attributes of `parent` (used by
/// PATCH paths like `emails[type eq "work"].value`). `parent` must be a filterable complex
/// attribute. Evaluate the result against one element with [`Filter::matches_element`].
pub fn parse_value_filter(parent: &'static Attribute, input: &str) -> ScimResult<Filter> {
    if !parent.is_complex() {
        return Err(ScimError::invalid_filter(format!(
            "'{}' is not a complex attribute, so it cannot have a value filter",
            parent.name
        )));
    }
    if !parent.filterable {
        return Err(ScimError::invalid_filter(format!("'{}' cannot be used in a filter", parent.name)));
    }
    let expr = parse_expr(input, Some(parent))?;
    let parent = locate(parent);
    Ok(Filter { expr, scope: Scope::Element(parent) })
}

impl Filter {
    /// Whether the filter matches a full User. For a filter from [`parse_value_filter`] this
    /// is `parent[filter]`: whether any element of the parent attribute in `user` matches.
    pub fn matches(&self, user: &Value) -> bool {
        match &self.scope {
            Scope::Resource => eval(&self.expr, user, None),
            Scope::Element(parent) => {
                values_at(user, &parent.resolved()).into_iter().any(|el| eval(&self.expr, user, Some(el)))
            }
        }
    }

    /// For a filter from [`parse_value_filter`]: whether it matches one element of the
    /// multi-valued (or single complex) attribute. For a filter from [`parse`] this is the same
    /// as [`Filter::matches`] with `element` as the resource.
    pub fn matches_element(&self, element: &Value) -> bool {
        match &self.scope {
            Scope::Resource => eval(&self.expr, element, None),
            Scope::Element(_) => eval(&self.expr, element, Some(element)),
        }
    }

    /// An equality the store can answer from an index: the filter is `X eq "v"` (a string
    /// literal) or an `and` one of whose operands (recursively) is, with X one of `userName`,
    /// `externalId`, `id`, `emails.value` (also `emails eq "v"` and `emails[value eq "v"]`, or an
    /// `and` inside the brackets). When an `and` offers several, the most selective wins:
    /// id, then userName, then externalId, then email. `or` and `not` never give a key, nor
    /// does a filter from [`parse_value_filter`]. The caller still evaluates the whole filter
    /// on the candidates.
    pub fn index_key(&self) -> Option<IndexKey> {
        match self.scope {
            Scope::Resource => index_key(&self.expr),
            Scope::Element(_) => None,
        }
    }
}

/// All values an attribute path designates in a user: the attribute's value, each element of
/// a multi-valued attribute, or the sub-attribute of the (each) element. `null`s are skipped
/// (SCIM treats null as unassigned). Member names are looked up exactly first, then
/// case-insensitively.
pub fn values_at<'a>(user: &'a Value, path: &schema::Resolved) -> Vec<&'a Value> {
    let container = match path.extension {
        Some(ext) => match member(user, ext.id) {
            Some(c) => c,
            None => return Vec::new(),
        },
        None => user,
    };
    let mut out = Vec::new();
    let Some(value) = member(container, path.attribute.name) else {
        return out;
    };
    match path.sub {
        None => flatten_into(value, &mut out),
        Some(sub) => {
            let mut elements = Vec::new();
            flatten_into(value, &mut elements);
            for el in elements {
                if let Some(v) = member(el, sub.name) {
                    flatten_into(v, &mut out);
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// AST
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Scope {
    Resource,
    /// A value filter over the elements of this attribute.
    Element(Path),
}

/// A resolved attribute path of the resource. Compared by canonical names, so two parses of
/// the same filter are equal.
#[derive(Clone, Copy)]
struct Path {
    extension: Option<&'static Schema>,
    attribute: &'static Attribute,
    sub: Option<&'static Attribute>,
}

impl Path {
    fn from_resolved(r: Resolved) -> Self {
        Path { extension: r.extension, attribute: r.attribute, sub: r.sub }
    }
    fn resolved(&self) -> Resolved {
        Resolved { extension: self.extension, attribute: self.attribute, sub: self.sub }
    }
    fn target(&self) -> &'static Attribute {
        self.sub.unwrap_or(self.attribute)
    }
    fn is_core(&self, name: &str, sub: Option<&str>) -> bool {
        self.extension.is_none() && self.attribute.name == name && self.sub.map(|s| s.name) == sub
    }
}

impl PartialEq for Path {
    fn eq(&self, other: &Self) -> bool {
        self.extension.map(|s| s.id) == other.extension.map(|s| s.id)
            && self.attribute.name == other.attribute.name
            && self.sub.map(|s| s.name) == other.sub.map(|s| s.name)
    }
}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ext) = self.extension {
            write!(f, "{}:", ext.id)?;
        }
        write!(f, "{}", self.attribute.name)?;
        if let Some(sub) = self.sub {
            write!(f, ".{}", sub.name)?;
        }
        Ok(())
    }
}

/// A sub-attribute named inside a value filter, relative to the current element.
#[derive(Clone, Copy)]
struct Sub(&'static Attribute);

impl PartialEq for Sub {
    fn eq(&self, other: &Self) -> bool {
        self.0.name == other.0.name && self.0.kind == other.0.kind
    }
}

impl fmt::Debug for Sub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    /// An attribute of the resource.
    Path(Path),
    /// A sub-attribute of the element a value filter is applied to.
    Sub(Sub),
}

impl Target {
    fn attribute(&self) -> &'static Attribute {
        match self {
            Target::Path(p) => p.target(),
            Target::Sub(s) => s.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn from_word(w: &str) -> Option<Op> {
        const OPS: [(&str, Op); 9] = [
            ("eq", Op::Eq),
            ("ne", Op::Ne),
            ("co", Op::Co),
            ("sw", Op::Sw),
            ("ew", Op::Ew),
            ("gt", Op::Gt),
            ("ge", Op::Ge),
            ("lt", Op::Lt),
            ("le", Op::Le),
        ];
        OPS.iter().find(|(name, _)| name.eq_ignore_ascii_case(w)).map(|(_, op)| *op)
    }
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Co => "co",
            Op::Sw => "sw",
            Op::Ew => "ew",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Lt => "lt",
            Op::Le => "le",
        }
    }
    fn is_substring(self) -> bool {
        matches!(self, Op::Co | Op::Sw | Op::Ew)
    }
    fn is_ordering(self) -> bool {
        matches!(self, Op::Gt | Op::Ge | Op::Lt | Op::Le)
    }
}

/// A point in time: seconds since the Unix epoch and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Instant {
    secs: i64,
    nanos: u32,
}

/// The right-hand side of a comparison, already checked against the attribute's type.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Str(String),
    Num(Number),
    Bool(bool),
    Null,
    /// A dateTime literal as written, and the instant it denotes.
    Time(String, Instant),
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Present(Target),
    Compare {
        target: Target,
        op: Op,
        value: Operand,
    },
    /// `attr[filter]`: some element of `attr` matches `filter`.
    Has {
        path: Path,
        filter: Box<Expr>,
    },
}

fn tree_depth(e: &Expr) -> usize {
    match e {
        Expr::And(v) | Expr::Or(v) => 1 + v.iter().map(tree_depth).max().unwrap_or(0),
        Expr::Not(inner) => 1 + tree_depth(inner),
        Expr::Has { filter, .. } => 1 + tree_depth(filter),
        Expr::Present(_) | Expr::Compare { .. } => 0,
    }
}

/// `schemas` (RFC 7643 §3): not in the attribute tables, but a filter may name it.
static SCHEMAS_ATTRIBUTE: Attribute = Attribute {
    name: "schemas",
    kind: Kind::Reference,
    multi_valued: true,
    description: "The schemas of the resource.",
    required: true,
    case_exact: false,
    mutability: Mutability::ReadOnly,
    returned: Returned::Always,
    uniqueness: Uniqueness::None,
    canonical_values: &[],
    reference_types: &["uri"],
    sub_attributes: &[],
    server_default: false,
    filterable: true,
};

/// Where `parent` lives in a User (core/common or an extension), by identity, else by name.
fn locate(parent: &'static Attribute) -> Path {
    let mut tables: Vec<(Option<&'static Schema>, &'static [Attribute])> =
        vec![(None, schema::USER_SCHEMA.attributes), (None, schema::COMMON_ATTRIBUTES)];
    for ext in schema::USER_EXTENSIONS {
        tables.push((Some(ext), ext.attributes));
    }
    let by = |same: &dyn Fn(&Attribute) -> bool| {
        tables.iter().find_map(|(ext, attrs)| attrs.iter().find(|a| same(a)).map(|_| *ext))
    };
    let extension =
        by(&|a| std::ptr::eq(a, parent)).or_else(|| by(&|a| a.name.eq_ignore_ascii_case(parent.name))).flatten();
    Path { extension, attribute: parent, sub: None }
}

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// An attribute path, operator or keyword.
    Word(&'a str),
    Str(String),
    Num(Number),
}

#[derive(Debug, Clone, PartialEq)]
struct Token<'a> {
    tok: Tok<'a>,
    pos: usize,
}

fn clip(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

fn describe(t: Option<&Token<'_>>) -> String {
    match t.map(|t| &t.tok) {
        None => "the end of the filter".into(),
        Some(Tok::LParen) => "'('".into(),
        Some(Tok::RParen) => "')'".into(),
        Some(Tok::LBracket) => "'['".into(),
        Some(Tok::RBracket) => "']'".into(),
        Some(Tok::Word(w)) => format!("'{}'", clip(w)),
        Some(Tok::Str(s)) => format!("the string \"{}\"", clip(s)),
        Some(Tok::Num(n)) => format!("the number {}", clip(&n.to_string())),
    }
}

fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'$' || b == b'_'
}

fn is_word_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'$' | b'_' | b'-' | b':' | b'.')
}

fn lex(input: &str) -> ScimResult<Vec<Token<'_>>> {
    let bytes = input.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let pos = i;
        let tok = match b {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b'[' => {
                i += 1;
                Tok::LBracket
            }
            b']' => {
                i += 1;
                if bytes.get(i) == Some(&b'.') {
                    return Err(ScimError::invalid_filter(format!(
                        "unexpected '.' after ']' at position {i}: 'attr[...].sub' is a PATCH path, \
                         not a filter; write 'attr[...]' or 'attr.sub'"
                    )));
                }
                Tok::RBracket
            }
            b'"' => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => {
                            return Err(ScimError::invalid_filter(format!(
                                "unterminated string starting at position {pos}"
                            )))
                        }
                        Some(b'\\') => i += 2,
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                let raw = input
                    .get(pos..i)
                    .ok_or_else(|| ScimError::invalid_filter(format!("invalid string starting at position {pos}")))?;
                let s: String = serde_json::from_str(raw).map_err(|e| {
                    ScimError::invalid_filter(format!(
                        "invalid string starting at position {pos}: {}",
                        json_error_reason(&e)
                    ))
                })?;
                Tok::Str(s)
            }
            b'-' | b'0'..=b'9' => {
                while bytes.get(i).is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
                {
                    i += 1;
                }
                let raw = input.get(pos..i).unwrap_or_default();
                let n: Number = raw.parse().map_err(|_| {
                    ScimError::invalid_filter(format!("invalid number '{}' at position {pos}", clip(raw)))
                })?;
                Tok::Num(n)
            }
            b if is_word_start(b) => {
                while bytes.get(i).is_some_and(|&c| is_word_char(c)) {
                    i += 1;
                }
                Tok::Word(input.get(pos..i).unwrap_or_default())
            }
            _ => {
                let ch = input.get(pos..).and_then(|s| s.chars().next()).unwrap_or('?');
                return Err(ScimError::invalid_filter(format!("unexpected character {ch:?} at position {pos}")));
            }
        };
        out.push(Token { tok, pos });
    }
    Ok(out)
}

/// serde_json's message without its "at line 1 column N" suffix (positions are ours).
fn json_error_reason(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.find(" at line ") {
        Some(at) => msg.get(..at).unwrap_or(&msg).to_string(),
        None => msg,
    }
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

const KEYWORDS: &[&str] =
    &["and", "or", "not", "pr", "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "true", "false", "null"];

fn is_keyword(w: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
}

fn parse_expr(input: &str, scope: Option<&'static Attribute>) -> ScimResult<Expr> {
    if input.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_filter(format!(
            "the filter is {} bytes long; at most {MAX_FILTER_LEN} are allowed",
            input.len()
        )));
    }
    let toks = lex(input)?;
    if toks.is_empty() {
        return Err(ScimError::invalid_filter("the filter is empty"));
    }
    let mut p = Parser { toks, i: 0, nesting: 0, scope, end: input.len() };
    let expr = p.parse_or()?;
    if let Some(t) = p.peek() {
        let detail = if t.tok == Tok::RParen {
            format!("unbalanced ')' at position {}", t.pos)
        } else if t.tok == Tok::RBracket {
            format!("unbalanced ']' at position {}", t.pos)
        } else {
            format!("expected 'and', 'or' or the end of the filter at position {}, found {}", t.pos, describe(Some(t)))
        };
        return Err(ScimError::invalid_filter(detail));
    }
    let depth = tree_depth(&expr);
    if depth > MAX_FILTER_DEPTH {
        return Err(ScimError::invalid_filter(format!(
            "the filter nests {depth} levels of and/or/not/value filters; at most {MAX_FILTER_DEPTH} are allowed"
        )));
    }
    Ok(expr)
}

struct Parser<'a> {
    toks: Vec<Token<'a>>,
    i: usize,
    /// Open groupings: parentheses, `not (`, `[`.
    nesting: usize,
    /// Inside a value filter: the complex attribute whose sub-attributes are named.
    scope: Option<&'static Attribute>,
    end: usize,
}

fn collapse(mut items: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        if let Some(only) = items.pop() {
            return only;
        }
    }
    make(items)
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Token<'a>> {
        self.toks.get(self.i)
    }

    fn pos(&self) -> usize {
        self.peek().map_or(self.end, |t| t.pos)
    }

    fn peek_word(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(kw))
    }

    fn error_expected(&self, what: &str) -> ScimError {
        ScimError::invalid_filter(format!(
            "expected {what} at position {}, found {}",
            self.pos(),
            describe(self.peek())
        ))
    }

    fn enter(&mut self, pos: usize) -> ScimResult<()> {
        self.nesting += 1;
        if self.nesting > MAX_FILTER_DEPTH {
            return Err(ScimError::invalid_filter(format!(
                "the filter nests more than {MAX_FILTER_DEPTH} levels of parentheses, 'not' or value filters (at position {pos})"
            )));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    fn expect(&mut self, tok: Tok<'static>, what: &str, opened_at: usize) -> ScimResult<()> {
        match self.peek() {
            Some(t) if t.tok == tok => {
                self.i += 1;
                Ok(())
            }
            found => Err(ScimError::invalid_filter(format!(
                "expected {what} to close the one opened at position {opened_at}, at position {}, found {}",
                self.pos(),
                describe(found)
            ))),
        }
    }

    fn parse_or(&mut self) -> ScimResult<Expr> {
        let mut items = vec![self.parse_and()?];
        while self.peek_word("or") {
            self.i += 1;
            items.push(self.parse_and()?);
        }
        Ok(collapse(items, Expr::Or))
    }

    fn parse_and(&mut self) -> ScimResult<Expr> {
        let mut items = vec![self.parse_unary()?];
        while self.peek_word("and") {
            self.i += 1;
            items.push(self.parse_unary()?);
        }
        Ok(collapse(items, Expr::And))
    }

    fn parse_unary(&mut self) -> ScimResult<Expr> {
        let Some(tok) = self.peek().cloned() else {
            return Err(self.error_expected("an attribute path, '(' or 'not'"));
        };
        match tok.tok {
            Tok::LParen => {
                self.i += 1;
                self.enter(tok.pos)?;
                let inner = self.parse_or()?;
                self.expect(Tok::RParen, "')'", tok.pos)?;
                self.leave();
                Ok(inner)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                self.i += 1;
                let open = self.pos();
                if self.peek().map(|t| &t.tok) != Some(&Tok::LParen) {
                    return Err(self.error_expected("'(' after 'not' (write 'not (expression)')"));
                }
                self.i += 1;
                self.enter(open)?;
                let inner = self.parse_or()?;
                self.expect(Tok::RParen, "')'", open)?;
                self.leave();
                Ok(Expr::Not(Box::new(inner)))
            }
            Tok::Word(w) if !is_keyword(w) => {
                self.i += 1;
                self.parse_attr_expr(w, tok.pos)
            }
            _ => Err(self.error_expected("an attribute path, '(' or 'not'")),
        }
    }

    /// `w` (already consumed) followed by `[valFilter]`, `pr` or `op value`.
    fn parse_attr_expr(&mut self, w: &'a str, pos: usize) -> ScimResult<Expr> {
        if self.peek().map(|t| &t.tok) == Some(&Tok::LBracket) {
            let open = self.pos();
            if self.scope.is_some() {
                return Err(ScimError::invalid_filter(format!(
                    "value filters cannot be nested ('[' at position {open})"
                )));
            }
            let path = resolve_path(w, pos)?;
            if path.sub.is_some() || !path.attribute.is_complex() {
                return Err(ScimError::invalid_filter(format!(
                    "'{}' at position {pos} is not a complex attribute, so it cannot have a value filter '[...]'",
                    clip(w)
                )));
            }
            self.i += 1;
            self.enter(open)?;
            self.scope = Some(path.attribute);
            let inner = self.parse_or();
            self.scope = None;
            let inner = inner?;
            self.expect(Tok::RBracket, "']'", open)?;
            self.leave();
            return Ok(Expr::Has { path, filter: Box::new(inner) });
        }

        let target = match self.scope {
            Some(parent) => Target::Sub(Sub(resolve_sub(parent, w, pos)?)),
            None => Target::Path(resolve_path(w, pos)?),
        };

        let op = match self.peek().map(|t| &t.tok) {
            Some(Tok::Word(opw)) if opw.eq_ignore_ascii_case("pr") => {
                self.i += 1;
                return Ok(Expr::Present(target));
            }
            Some(Tok::Word(opw)) => Op::from_word(opw),
            _ => None,
        };
        let Some(op) = op else {
            return Err(self.error_expected(&format!(
                "an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr) after '{}'",
                clip(w)
            )));
        };
        self.i += 1;
        let value_pos = self.pos();
        let value = match self.peek().map(|t| &t.tok) {
            Some(Tok::Str(s)) => Literal::Str(s.clone()),
            Some(Tok::Num(n)) => Literal::Num(n.clone()),
            Some(Tok::Word(v)) if v.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Word(v)) if v.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(Tok::Word(v)) if v.eq_ignore_ascii_case("null") => Literal::Null,
            _ => {
                return Err(self.error_expected(&format!(
                    "a value (a \"string\", a number, true, false or null) after '{}'",
                    op.as_str()
                )))
            }
        };
        self.i += 1;
        compare(target, w, op, value, value_pos)
    }
}

/// A literal as written, before it is checked against the attribute's type.
enum Literal {
    Str(String),
    Num(Number),
    Bool(bool),
    Null,
}

impl Literal {
    fn kind(&self) -> &'static str {
        match self {
            Literal::Str(_) => "a string",
            Literal::Num(_) => "a number",
            Literal::Bool(_) => "a boolean",
            Literal::Null => "null",
        }
    }
}

/// Type-checks `name op value` and builds the comparison.
fn compare(target: Target, name: &str, op: Op, value: Literal, pos: usize) -> ScimResult<Expr> {
    let name = clip(name);
    let mut target = target;
    if target.attribute().is_complex() {
        // RFC 7643 §2.4: a complex attribute's `value` sub-attribute stands for the element.
        match target {
            Target::Path(mut p) if p.sub.is_none() => match p.attribute.sub("value") {
                Some(value_sub) => {
                    p.sub = Some(value_sub);
                    target = Target::Path(p);
                }
                None => {
                    return Err(ScimError::invalid_filter(format!(
                    "'{name}' is a complex attribute: compare one of its sub-attributes (e.g. '{name}.{}') or use 'pr'",
                    p.attribute.sub_attributes.first().map_or("sub", |s| s.name)
                )))
                }
            },
            _ => {
                return Err(ScimError::invalid_filter(format!(
                    "'{name}' is a complex attribute: compare one of its sub-attributes or use 'pr'"
                )))
            }
        }
    }
    let attribute = target.attribute();
    let kind = attribute.kind;

    let textual = matches!(kind, Kind::String | Kind::Reference);
    if op.is_substring() && !textual {
        return Err(ScimError::invalid_filter(format!(
            "'{}' is only defined for string attributes, and '{name}' is a {} attribute",
            op.as_str(),
            kind.as_str()
        )));
    }
    if op.is_ordering()
        && !matches!(kind, Kind::String | Kind::Reference | Kind::Integer | Kind::Decimal | Kind::DateTime)
    {
        return Err(ScimError::invalid_filter(format!(
            "'{}' is not defined for the {} attribute '{name}'",
            op.as_str(),
            kind.as_str()
        )));
    }
    let mismatch = |lit: &Literal| {
        ScimError::invalid_filter(format!(
            "type mismatch at position {pos}: '{name}' is a {} attribute and cannot be compared with {}",
            kind.as_str(),
            lit.kind()
        ))
    };
    let operand = match value {
        Literal::Null => {
            if !matches!(op, Op::Eq | Op::Ne) {
                return Err(ScimError::invalid_filter(format!(
                    "null can only be compared with 'eq' or 'ne' (position {pos})"
                )));
            }
            Operand::Null
        }
        Literal::Str(s) => match kind {
            Kind::String | Kind::Reference | Kind::Binary => Operand::Str(s),
            Kind::DateTime => match parse_datetime(&s) {
                Some(instant) => Operand::Time(s, instant),
                None => {
                    return Err(ScimError::invalid_filter(format!(
                        "'{name}' is a dateTime attribute, and \"{}\" at position {pos} is not a dateTime \
                         (expected e.g. \"2011-05-13T04:42:34Z\")",
                        clip(&s)
                    )))
                }
            },
            _ => return Err(mismatch(&Literal::Str(s))),
        },
        Literal::Num(n) => match kind {
            Kind::Integer | Kind::Decimal => Operand::Num(n),
            _ => return Err(mismatch(&Literal::Num(n))),
        },
        Literal::Bool(b) => match kind {
            Kind::Boolean => Operand::Bool(b),
            _ => return Err(mismatch(&Literal::Bool(b))),
        },
    };
    Ok(Expr::Compare { target, op, value: operand })
}

fn not_filterable(name: &str) -> ScimError {
    ScimError::invalid_filter(format!("'{}' cannot be used in a filter", clip(name)))
}

/// Resolves an attribute path of the resource, with a precise error when it does not resolve.
fn resolve_path(w: &str, pos: usize) -> ScimResult<Path> {
    let resolved = schema::resolve(w).or_else(|| {
        // `schemas`, optionally core-URN-qualified.
        match schema::split_urn(w) {
            Some((None, rest)) if rest.eq_ignore_ascii_case("schemas") => {
                Some(Resolved { extension: None, attribute: &SCHEMAS_ATTRIBUTE, sub: None })
            }
            _ => None,
        }
    });
    let Some(resolved) = resolved else {
        return Err(explain_unresolved(w, pos));
    };
    if !resolved.attribute.filterable || !resolved.target().filterable {
        return Err(not_filterable(w));
    }
    Ok(Path::from_resolved(resolved))
}

fn explain_unresolved(w: &str, pos: usize) -> ScimError {
    let shown = clip(w);
    let Some((extension, rest)) = schema::split_urn(w) else {
        return ScimError::invalid_filter(format!("unknown schema URN in attribute '{shown}' at position {pos}"));
    };
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    let attribute = match extension {
        Some(ext) => ext.attribute(name),
        None => schema::USER_SCHEMA.attribute(name).or_else(|| schema::find(schema::COMMON_ATTRIBUTES, name)),
    };
    match (attribute, sub) {
        (Some(a), Some(sub)) if !a.is_complex() => ScimError::invalid_filter(format!(
            "'{}' at position {pos} is not a complex attribute, so it has no sub-attribute '{}'",
            a.name,
            clip(sub)
        )),
        (Some(a), Some(sub)) => ScimError::invalid_filter(format!(
            "unknown attribute '{shown}' at position {pos}: '{}' has no sub-attribute '{}'",
            a.name,
            clip(sub)
        )),
        _ => ScimError::invalid_filter(format!("unknown attribute '{shown}' at position {pos}")),
    }
}

/// Resolves a sub-attribute name inside `parent[...]`.
fn resolve_sub(parent: &'static Attribute, w: &str, pos: usize) -> ScimResult<&'static Attribute> {
    let Some(sub) = parent.sub(w) else {
        return Err(ScimError::invalid_filter(format!(
            "unknown attribute '{}' at position {pos}: '{}' has no sub-attribute of that name",
            clip(w),
            parent.name
        )));
    };
    if !sub.filterable {
        return Err(not_filterable(w));
    }
    Ok(sub)
}

// ---------------------------------------------------------------------------------------------
// dateTime
// ---------------------------------------------------------------------------------------------

fn digits(b: &[u8], start: usize, n: usize) -> Option<u32> {
    let slice = b.get(start..start + n)?;
    slice.iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An RFC 3339 / xsd:dateTime: `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]` (no zone is UTC).
fn parse_datetime(s: &str) -> Option<Instant> {
    let b = s.as_bytes();
    let year = i64::from(digits(b, 0, 4)?);
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't'))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        let mut scale = 100_000_000u32;
        while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            nanos += u32::from(c - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset_secs: i64 = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, i + 1, 2)?;
            let om = digits(b, i + 4, 2)?;
            if b.get(i + 3) != Some(&b':') || oh > 23 || om > 59 {
                return None;
            }
            i += 6;
            let off = i64::from(oh * 3600 + om * 60);
            if sign == b'+' {
                off
            } else {
                -off
            }
        }
        Some(_) => return None,
    };
    if i != b.len() {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_secs;
    Some(Instant { secs, nanos })
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

/// A member of a JSON object: exact name first, then case-insensitively.
fn member<'a>(obj: &'a Value, name: &str) -> Option<&'a Value> {
    let map = obj.as_object()?;
    map.get(name).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

/// Pushes `v` (or each element, if it is an array), skipping nulls.
fn flatten_into<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Null => {}
        Value::Array(items) => out.extend(items.iter().filter(|x| !x.is_null())),
        other => out.push(other),
    }
}

/// RFC 7644 `pr`: has a non-empty value. Containers count if any member does (bounded depth).
fn is_present(v: &Value) -> bool {
    fn go(v: &Value, depth: usize) -> bool {
        match v {
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            Value::Bool(_) | Value::Number(_) => true,
            Value::Array(items) => {
                if depth == 0 {
                    !items.is_empty()
                } else {
                    items.iter().any(|x| go(x, depth - 1))
                }
            }
            Value::Object(map) => {
                if depth == 0 {
                    !map.is_empty()
                } else {
                    map.values().any(|x| go(x, depth - 1))
                }
            }
        }
    }
    go(v, 4)
}

fn target_values<'a>(t: &Target, root: &'a Value, element: Option<&'a Value>) -> Vec<&'a Value> {
    match t {
        Target::Path(p) => values_at(root, &p.resolved()),
        Target::Sub(s) => {
            let mut out = Vec::new();
            if let Some(v) = element.and_then(|el| member(el, s.0.name)) {
                flatten_into(v, &mut out);
            }
            out
        }
    }
}

fn eval(e: &Expr, root: &Value, element: Option<&Value>) -> bool {
    match e {
        Expr::And(items) => items.iter().all(|x| eval(x, root, element)),
        Expr::Or(items) => items.iter().any(|x| eval(x, root, element)),
        Expr::Not(inner) => !eval(inner, root, element),
        Expr::Present(t) => target_values(t, root, element).into_iter().any(is_present),
        Expr::Compare { target, op, value } => {
            let values = target_values(target, root, element);
            let case_exact = target.attribute().case_exact;
            match (value, op) {
                (Operand::Null, Op::Eq) => !values.into_iter().any(is_present),
                (Operand::Null, _) => values.into_iter().any(is_present),
                (_, Op::Ne) => values.is_empty() || values.into_iter().any(|v| !test(v, Op::Eq, value, case_exact)),
                _ => values.into_iter().any(|v| test(v, *op, value, case_exact)),
            }
        }
        Expr::Has { path, filter } => {
            values_at(root, &path.resolved()).into_iter().any(|el| eval(filter, root, Some(el)))
        }
    }
}

fn ordering_holds(ord: Ordering, op: Op) -> bool {
    match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Co | Op::Sw | Op::Ew => false,
    }
}

fn string_holds(attr: &str, lit: &str, op: Op) -> bool {
    match op {
        Op::Co => attr.contains(lit),
        Op::Sw => attr.starts_with(lit),
        Op::Ew => attr.ends_with(lit),
        _ => ordering_holds(attr.cmp(lit), op),
    }
}

fn number_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

/// Whether one stored value satisfies `op value`. A stored value of another JSON type never does.
fn test(v: &Value, op: Op, value: &Operand, case_exact: bool) -> bool {
    match value {
        Operand::Str(lit) => match v.as_str() {
            Some(s) if case_exact => string_holds(s, lit, op),
            Some(s) => string_holds(&s.to_lowercase(), &lit.to_lowercase(), op),
            None => false,
        },
        Operand::Time(_, lit) => match v.as_str().and_then(parse_datetime) {
            Some(t) => ordering_holds(t.cmp(lit), op),
            None => false,
        },
        Operand::Num(lit) => match v {
            Value::Number(n) => number_cmp(n, lit).is_some_and(|ord| ordering_holds(ord, op)),
            _ => false,
        },
        Operand::Bool(lit) => match v.as_bool() {
            Some(b) => ordering_holds(b.cmp(lit), op) && matches!(op, Op::Eq | Op::Ne),
            None => false,
        },
        Operand::Null => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Index keys
// ---------------------------------------------------------------------------------------------

fn key_rank(k: &IndexKey) -> u8 {
    match k {
        IndexKey::Id(_) => 0,
        IndexKey::UserName(_) => 1,
        IndexKey::ExternalId(_) => 2,
        IndexKey::Email(_) => 3,
    }
}

fn index_key(e: &Expr) -> Option<IndexKey> {
    match e {
        Expr::Compare { target: Target::Path(p), op: Op::Eq, value: Operand::Str(s) } => {
            if p.is_core("userName", None) {
                Some(IndexKey::UserName(s.clone()))
            } else if p.is_core("externalId", None) {
                Some(IndexKey::ExternalId(s.clone()))
            } else if p.is_core("id", None) {
                Some(IndexKey::Id(s.clone()))
            } else if p.is_core("emails", Some("value")) {
                Some(IndexKey::Email(s.clone()))
            } else {
                None
            }
        }
        Expr::Has { path, filter } if path.is_core("emails", None) => email_in_value_filter(filter),
        Expr::And(items) => items.iter().filter_map(index_key).min_by_key(key_rank),
        _ => None,
    }
}

fn email_in_value_filter(e: &Expr) -> Option<IndexKey> {
    match e {
        Expr::Compare { target: Target::Sub(s), op: Op::Eq, value: Operand::Str(v) } if s.0.name == "value" => {
            Some(IndexKey::Email(v.clone()))
        }
        Expr::And(items) => items.iter().find_map(email_in_value_filter),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use serde_json::json;
    use std::time::{Duration, Instant as Clock};

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    const FST: &str = "urn:ietf:params:scim:schemas:extension:fastly:2.0:User";

    fn user() -> Value {
        json!({
            "schemas": [schema::CORE_USER, ENT, FST],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "00uAbCdEf123",
            "userName": "test.user@okta.local",
            "name": {"givenName": "Barbara", "familyName": "O'Malley", "formatted": "Ms. Barbara O'Malley"},
            "displayName": "Babs Jensen",
            "nickName": "ÉMILE",
            "title": "Tour Guide",
            "userType": "Employee",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"}
            ],
            "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
            "roles": [{"value": "engineer"}],
            "meta": {
                "resourceType": "User",
                "created": "2010-01-23T04:56:22Z",
                "lastModified": "2011-05-13T04:42:34Z",
                "location": "https://example.com/v2/Users/2819c223",
                "version": "W/\"a330bc54f0671c9\""
            },
            ENT: {
                "department": "Tour Operations",
                "employeeNumber": "701984",
                "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
            },
            FST: {"role": "engineer", "userId": "AbC123", "customerId": "Cust456"}
        })
    }

    fn m(f: &str) -> bool {
        m_on(f, &user())
    }

    fn m_on(f: &str, u: &Value) -> bool {
        parse(f).unwrap_or_else(|e| panic!("{f:?} should parse: {e}")).matches(u)
    }

    fn err(f: &str) -> String {
        match parse(f) {
            Ok(parsed) => panic!("{f:?} should be rejected, parsed as {parsed:?}"),
            Err(e) => {
                assert_eq!(e.status, 400, "{f:?}");
                assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{f:?}");
                e.detail
            }
        }
    }

    fn key(f: &str) -> Option<IndexKey> {
        parse(f).unwrap().index_key()
    }

    // ---- operators -------------------------------------------------------------------------

    #[test]
    fn eq_and_ne() {
        assert!(m(r#"title eq "Tour Guide""#));
        assert!(!m(r#"title eq "Tour""#));
        assert!(m(r#"title ne "Tour""#));
        assert!(!m(r#"title ne "Tour Guide""#));
    }

    #[test]
    fn co_sw_ew() {
        assert!(m(r#"title co "our G""#));
        assert!(!m(r#"title co "xyz""#));
        assert!(m(r#"title sw "Tour""#));
        assert!(!m(r#"title sw "Guide""#));
        assert!(m(r#"title ew "Guide""#));
        assert!(!m(r#"title ew "Tour""#));
        assert!(m(r#"title sw """#), "the empty string starts every string");
    }

    #[test]
    fn ordering_on_strings_is_lexical_and_case_insensitive() {
        assert!(m(r#"title gt "Tour""#));
        assert!(!m(r#"title gt "Tour Guide""#));
        assert!(m(r#"title ge "Tour Guide""#));
        assert!(m(r#"title ge "TOUR GUIDE""#));
        assert!(!m(r#"title ge "Zebra""#));
        assert!(m(r#"title lt "zebra""#));
        assert!(!m(r#"title lt "Tour Guide""#));
        assert!(m(r#"title le "Tour Guide""#));
        assert!(!m(r#"title le "Apple""#));
    }

    #[test]
    fn present() {
        assert!(m("title pr"));
        assert!(!m("preferredLanguage pr"));
        assert!(m("name pr"));
        assert!(m("emails pr"));
        assert!(m("emails.type pr"));
        assert!(!m("addresses pr"));
        assert!(m("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr"));
        let empty = json!({"title": "", "emails": [], "name": {}, "addresses": [{"type": null}], "nickName": null});
        for f in ["title pr", "emails pr", "name pr", "addresses pr", "nickName pr", "emails.value pr"] {
            assert!(!m_on(f, &empty), "{f}");
        }
    }

    #[test]
    fn booleans() {
        assert!(m("active eq true"));
        assert!(!m("active eq false"));
        assert!(m("active ne false"));
        assert!(m("active eq TRUE"), "literals are case-insensitive (ABNF)");
        assert!(m("emails[primary eq true]"));
        assert!(m("emails.primary eq true"));
        assert!(!m(r#"emails[primary eq true and type eq "home"]"#));
        assert!(!m_on("active eq true", &json!({"active": false})));
        assert!(!m_on("active eq true", &json!({"active": "true"})), "a stored string is not a boolean");
    }

    #[test]
    fn ne_on_missing_attribute_is_true() {
        assert!(m(r#"preferredLanguage ne "en""#));
        assert!(m(r#"addresses.type ne "work""#));
        assert!(m(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter ne "x""#));
        assert!(m_on(r#"title ne "x""#, &json!({})));
        // Any value that differs is enough for a multi-valued attribute.
        assert!(m(r#"emails.type ne "work""#));
        assert!(!m(r#"phoneNumbers.type ne "work""#));
    }

    #[test]
    fn null_means_absent() {
        assert!(m("preferredLanguage eq null"));
        assert!(!m("title eq null"));
        assert!(m("title ne null"));
        assert!(!m("preferredLanguage ne null"));
        assert!(m_on("title eq null", &json!({"title": ""})));
        assert!(err("title gt null").contains("null"));
        assert!(err("title co null").contains("null"));
    }

    // ---- dateTime ----------------------------------------------------------------------------

    #[test]
    fn datetime_comparisons_are_instants() {
        assert!(!m(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#));
        assert!(m(r#"meta.lastModified ge "2011-05-13T04:42:34Z""#));
        assert!(m(r#"meta.lastModified gt "2011-05-13T04:42:33Z""#));
        assert!(m(r#"meta.lastModified lt "2011-05-13T04:42:35Z""#));
        assert!(!m(r#"meta.lastModified lt "2011-05-13T04:42:34Z""#));
        assert!(m(r#"meta.lastModified le "2011-05-13T04:42:34Z""#));
        assert!(m(r#"meta.lastModified eq "2011-05-13T04:42:34Z""#));
        // The same instant in other notations.
        assert!(m(r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#));
        assert!(m(r#"meta.lastModified eq "2011-05-12T23:42:34.000-05:00""#));
        assert!(m(r#"meta.lastModified eq "2011-05-13t04:42:34z""#));
        assert!(m(r#"meta.lastModified eq "2011-05-13T04:42:34""#), "no zone is UTC");
        // Fractions compare.
        assert!(m(r#"meta.lastModified lt "2011-05-13T04:42:34.001Z""#));
        assert!(m(r#"meta.lastModified gt "2011-05-13T04:42:33.999999999Z""#));
        // Across an offset: 04:42:34Z is later than 06:00+02:00 (= 04:00Z), though lexically smaller.
        assert!(m(r#"meta.lastModified gt "2011-05-13T06:00:00+02:00""#));
        assert!(m(r#"meta.created lt "2011-05-13T04:42:34Z" and meta.lastModified ge "2010-01-23T04:56:22Z""#));
        let u = json!({"meta": {"lastModified": "2024-02-29T12:00:00.5+01:00"}});
        assert!(m_on(r#"meta.lastModified gt "2024-02-29T11:00:00Z""#, &u));
        assert!(m_on(r#"meta.lastModified lt "2024-02-29T11:00:00.6Z""#, &u));
        assert!(!m_on(r#"meta.lastModified gt "2024-01-01T00:00:00Z""#, &json!({"meta": {"lastModified": "garbage"}})));
    }

    #[test]
    fn datetime_parser() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00Z"), Some(Instant { secs: 0, nanos: 0 }));
        assert_eq!(parse_datetime("2011-05-13T04:42:34Z").map(|i| i.secs), Some(1_305_261_754));
        assert_eq!(parse_datetime("1969-12-31T23:59:59.25Z"), Some(Instant { secs: -1, nanos: 250_000_000 }));
        assert_eq!(parse_datetime("2000-02-29T00:00:00Z").map(|i| i.secs), Some(951_782_400));
        for bad in [
            "",
            "2011-05-13",
            "2011-05-13 04:42:34Z",
            "2011-13-13T04:42:34Z",
            "2011-02-29T04:42:34Z",
            "1900-02-29T00:00:00Z",
            "2011-05-13T24:00:00Z",
            "2011-05-13T04:60:00Z",
            "2011-05-13T04:42:34.Z",
            "2011-05-13T04:42:34+0200",
            "2011-05-13T04:42:34Zjunk",
            "2011-05-13T04:42:34+24:00",
            "yesterday",
            "２011-05-13T04:42:34Z",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad:?}");
        }
    }

    // ---- logic -------------------------------------------------------------------------------

    #[test]
    fn and_or_not() {
        assert!(m(r#"title pr and userType eq "Employee""#));
        assert!(!m(r#"title pr and userType eq "Intern""#));
        assert!(m(r#"title pr or userType eq "Intern""#));
        assert!(!m(r#"nickName eq "x" or userType eq "Intern""#));
        assert!(m(r#"not (userType eq "Intern")"#));
        assert!(!m(r#"not (userType eq "Employee")"#));
        assert!(m(r#"not(not(userType eq "Employee"))"#));
        assert!(m(r#"title pr and userType pr and active eq true and emails pr"#));
        assert!(m(r#"userName eq "a" or userName eq "b" or title pr"#));
    }

    #[test]
    fn precedence_and_binds_tighter_than_or() {
        // true or (false and false) = true; ((true or false) and false) would be false.
        assert!(m(r#"title pr or userName eq "nope" and userType eq "nope""#));
        // (false and true) or true.
        assert!(m(r#"userName eq "nope" and title pr or title pr"#));
        // Parentheses override.
        assert!(!m(r#"(title pr or userName eq "nope") and userType eq "nope""#));
        // `not` applies to its parenthesised operand only: (not true) or true = true.
        assert!(m("not (title pr) or title pr"));
        assert!(!m("not (title pr or title pr)"));
        assert_eq!(
            parse(r#"title pr or userName eq "nope" and userType eq "nope""#).unwrap(),
            parse(r#"title pr or (userName eq "nope" and userType eq "nope")"#).unwrap()
        );
    }

    #[test]
    fn parentheses_and_whitespace() {
        assert!(m(r#"((title pr))"#));
        assert!(m("(title pr)and(userType pr)"));
        assert!(m("  title   pr\tand\nuserType  pr  "));
        assert!(m(r#"(userType eq "Employee") and (emails.type eq "work")"#));
    }

    #[test]
    fn keywords_and_attribute_names_are_case_insensitive() {
        assert!(m(r#"USERNAME EQ "test.user@okta.local" AND TITLE PR"#));
        assert!(m(r#"UserName Sw "TEST" Or NickName pR"#));
        assert!(m(r#"NOT (TiTlE Eq "x")"#));
        assert!(m(r#"EMAILS[TYPE EQ "WORK" AND Value Co "@EXAMPLE.com"]"#));
        assert!(m(r#"NAME.FAMILYNAME eq "o'malley""#));
        assert!(m(r#"URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:USERNAME eq "test.user@okta.local""#));
        assert!(m("Active EQ True"));
    }

    // ---- attribute paths --------------------------------------------------------------------

    #[test]
    fn sub_attributes() {
        assert!(m(r#"name.familyName co "O'Malley""#));
        assert!(m(r#"name.givenName eq "Barbara""#));
        assert!(!m(r#"name.givenName eq "Babs""#));
        assert!(m(r#"meta.resourceType eq "User""#));
        assert!(!m(r#"meta.resourceType eq "user""#), "meta.resourceType is caseExact");
    }

    #[test]
    fn urn_qualified_names() {
        assert!(m(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "test""#));
        assert!(m(r#"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName co "O'Malley""#));
        assert!(m(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour operations""#));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#
        ));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#
        ));
        assert!(m(r#"urn:ietf:params:scim:schemas:extension:fastly:2.0:User:role eq "Engineer""#));
        assert!(m(r#"urn:ietf:params:scim:schemas:extension:fastly:2.0:User:userId eq "AbC123""#));
        assert!(!m(r#"urn:ietf:params:scim:schemas:extension:fastly:2.0:User:userId eq "abc123""#), "caseExact");
        assert!(m(r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"]"#));
        // An extension attribute is not found at the top level, nor a core one in an extension.
        assert!(!m_on(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department pr"#,
            &json!({"department": "x"})
        ));
        err(r#"department eq "x""#);
        err(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName eq "x""#);
    }

    #[test]
    fn case_exactness_follows_the_schema() {
        // userName is case-insensitive.
        assert!(m(r#"userName eq "Test.User@OKTA.local""#));
        // id and externalId are caseExact.
        assert!(m(r#"id eq "2819c223-7f76-453a-919d-413861904646""#));
        assert!(!m(r#"id eq "2819C223-7F76-453A-919D-413861904646""#));
        assert!(m(r#"externalId eq "00uAbCdEf123""#));
        assert!(!m(r#"externalId eq "00uabcdef123""#));
        assert!(!m(r#"externalId sw "00UA""#));
        assert!(m(r#"externalId sw "00uA""#));
        // Full Unicode lowercasing, not just ASCII.
        assert!(m(r#"nickName eq "émile""#));
        assert!(m(r#"nickName sw "ÉM""#));
        assert!(m(r#"displayName co "JENSEN""#));
    }

    #[test]
    fn multi_valued_attributes_match_any_value() {
        assert!(m(r#"emails.value ew "@jensen.org""#));
        assert!(m(r#"emails.value ew "@example.com""#));
        assert!(!m(r#"emails.value ew "@x.com""#));
        assert!(m(r#"emails co "jensen""#), "compares each element's value");
        assert!(m(r#"emails eq "BABS@jensen.org""#));
        assert!(m(r#"emails.type eq "home""#));
        assert!(m(r#"roles eq "engineer""#));
        assert!(m(r#"roles.value eq "engineer""#));
        assert!(!m(r#"roles eq "superuser""#));
        assert!(m(r#"phoneNumbers.value sw "555""#));
        assert!(m(r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#));
        assert!(!m(r#"schemas eq "urn:example:nope""#));
    }

    #[test]
    fn value_filters() {
        assert!(m(r#"emails[type eq "work" and value co "@example.com"]"#));
        // Both conditions must hold for the same element.
        assert!(!m(r#"emails[type eq "home" and value co "@example.com"]"#));
        assert!(m(r#"emails[type eq "home" or value co "@nowhere"]"#));
        assert!(m(r#"emails[not (type eq "work")]"#));
        assert!(m(r#"emails[(type eq "x" or type eq "home") and value ew ".org"]"#));
        assert!(m(r#"emails[value pr]"#));
        assert!(!m(r#"emails[display pr]"#));
        assert!(m(r#"name[givenName eq "Barbara"]"#), "a single complex attribute is its one element");
        assert!(m(r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#));
        assert!(!m(r#"addresses[type eq "work"]"#));
        // Inside brackets, names are sub-attributes of the attribute.
        assert!(err(r#"emails[userName eq "x"]"#).contains("no sub-attribute"));
        assert!(err(r#"emails[emails.type eq "x"]"#).contains("unknown attribute"));
        assert!(err(r#"emails[type[value eq "x"]]"#).contains("nested"));
        assert!(err(r#"userName[value eq "x"]"#).contains("not a complex"));
        assert!(err(r#"emails.value[value eq "x"]"#).contains("not a complex"));
        assert!(err(r#"emails[type eq "work"].value eq "x""#).contains("PATCH path"));
        assert!(err(r#"emails[type eq "work""#).contains("']'"));
        assert!(err(r#"emails[]"#).contains("attribute path"));
    }

    #[test]
    fn parse_value_filter_for_patch_paths() {
        let emails = schema::resolve("emails").unwrap().attribute;
        let f = parse_value_filter(emails, r#"type eq "work" and primary eq true"#).unwrap();
        assert!(f.matches_element(&json!({"value": "a@b", "type": "Work", "primary": true})));
        assert!(!f.matches_element(&json!({"value": "a@b", "type": "home", "primary": true})));
        assert!(!f.matches_element(&json!({"value": "a@b", "type": "work"})));
        assert!(f.matches(&user()), "as a whole-user filter it is emails[...]");
        assert!(!parse_value_filter(emails, r#"type eq "other""#).unwrap().matches(&user()));
        assert_eq!(parse_value_filter(emails, r#"value eq "a@b""#).unwrap().index_key(), None);

        let manager = schema::resolve(&format!("{ENT}:manager")).unwrap().attribute;
        let f = parse_value_filter(manager, r#"displayName sw "john""#).unwrap();
        assert!(f.matches(&user()), "located in the enterprise extension");
        assert!(f.matches_element(&json!({"displayName": "John"})));

        let e = parse_value_filter(emails, r#"emails.type eq "work""#).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        parse_value_filter(emails, r#"type[value eq "x"]"#).unwrap_err();
        parse_value_filter(emails, r#"type eq 1"#).unwrap_err();
        parse_value_filter(emails, "").unwrap_err();
        let user_name = schema::resolve("userName").unwrap().attribute;
        assert!(parse_value_filter(user_name, r#"value eq "x""#).unwrap_err().detail.contains("not a complex"));
        let password = schema::resolve("password").unwrap().attribute;
        parse_value_filter(password, r#"value eq "x""#).unwrap_err();
    }

    #[test]
    fn numeric_attributes() {
        // No User attribute is numeric; a complex attribute with numeric sub-attributes exercises
        // the number paths.
        static SUBS: [Attribute; 2] = [
            Attribute { name: "count", kind: Kind::Integer, ..SCHEMAS_ATTRIBUTE },
            Attribute { name: "ratio", kind: Kind::Decimal, ..SCHEMAS_ATTRIBUTE },
        ];
        static COUNTERS: Attribute =
            Attribute { name: "counters", kind: Kind::Complex, sub_attributes: &SUBS, ..SCHEMAS_ATTRIBUTE };
        let el = json!({"count": 42, "ratio": 0.5});
        let t = |f: &str| parse_value_filter(&COUNTERS, f).unwrap().matches_element(&el);
        assert!(t("count eq 42"));
        assert!(t("count eq 42.0"));
        assert!(t("count eq 4.2e1"));
        assert!(t("count ne 41"));
        assert!(t("count gt 41 and count lt 43 and count ge 42 and count le 42"));
        assert!(!t("count gt 42"));
        assert!(t("count gt -1"));
        assert!(t("ratio lt 1 and ratio gt 0.25 and ratio eq 5e-1"));
        assert!(t("count pr"));
        for bad in [
            r#"count eq "42""#,
            "count co 4",
            "count eq true",
            "count eq 01",
            "count eq 1.",
            "count eq -",
            "count eq 1e",
        ] {
            assert!(parse_value_filter(&COUNTERS, bad).is_err(), "{bad}");
        }
        assert!(!parse_value_filter(&COUNTERS, "count eq 42").unwrap().matches_element(&json!({"count": "42"})));
    }

    // ---- errors ------------------------------------------------------------------------------

    #[test]
    fn type_mismatches_are_invalid_filter() {
        assert!(err(r#"active eq "true""#).contains("type mismatch"));
        assert!(err("userName eq 5").contains("type mismatch"));
        assert!(err("userName eq -1.5e3").contains("type mismatch"));
        assert!(err("userName eq true").contains("type mismatch"));
        assert!(err("meta.lastModified gt 2011").contains("type mismatch"));
        assert!(err("active gt true").contains("not defined"));
        assert!(err("active le false").contains("not defined"));
        assert!(err(r#"active co "t""#).contains("only defined for string"));
        assert!(err(r#"meta.created sw "2010""#).contains("only defined for string"));
        assert!(err(r#"meta.lastModified gt "yesterday""#).contains("not a dateTime"));
        assert!(err(r#"meta.lastModified gt "2011-05-13""#).contains("not a dateTime"));
        assert!(err(r#"name eq "Barbara""#).contains("complex"));
        assert!(err(r#"meta gt "x""#).contains("complex"));
        assert!(err(r#"emails.primary eq "true""#).contains("type mismatch"));
        assert!(err(r#"emails[primary eq "yes"]"#).contains("type mismatch"));
    }

    #[test]
    fn unknown_and_unfilterable_attributes() {
        assert!(err(r#"nope eq "x""#).contains("unknown attribute 'nope'"));
        assert!(err("nope pr").contains("'nope'"));
        assert!(err(r#"name.nope eq "x""#).contains("no sub-attribute 'nope'"));
        assert!(err(r#"userName.value eq "x""#).contains("not a complex attribute"));
        assert!(err(r#"urn:example:unknown:User:role eq "x""#).contains("unknown schema URN"));
        assert!(err(r#"ims[type eq "xmpp"]"#).contains("unknown attribute 'ims'"));
        assert!(err(r#"password eq "hunter2""#).contains("'password' cannot be used in a filter"));
        assert!(err("password pr").contains("password"));
        assert!(err(r#"urn:ietf:params:scim:schemas:core:2.0:User:password eq "x""#).contains("cannot be used"));
    }

    #[test]
    fn syntax_errors_say_where_and_what() {
        assert!(err("").contains("empty"));
        assert!(err("   ").contains("empty"));
        assert_eq!(err("title"), "expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr) after 'title' at position 5, found the end of the filter");
        assert!(err(r#"title xx "a""#).contains("expected an operator"));
        assert!(err("title eq").contains("expected a value"));
        assert!(err("title eq )").contains("expected a value"));
        assert!(err("title eq bare").contains("expected a value"));
        assert!(err(r#"title eq "a" extra"#).contains("expected 'and', 'or' or the end of the filter at position 13"));
        assert!(err(r#"title eq "a" and"#).contains("expected an attribute path"));
        assert!(err(r#"and title pr"#).contains("expected an attribute path, '(' or 'not' at position 0, found 'and'"));
        assert!(err("(title pr").contains("expected ')' to close the one opened at position 0"));
        assert!(err("title pr)").contains("unbalanced ')' at position 8"));
        assert!(err("title pr]").contains("unbalanced ']'"));
        assert!(err("()").contains("expected an attribute path"));
        assert!(err(r#"not title eq "x""#).contains("'(' after 'not'"));
        assert!(err("not").contains("'(' after 'not'"));
        assert!(err(r#"title eq "a" or or title pr"#).contains("found 'or'"));
        assert!(err(r#"title eq 'a'"#).contains("unexpected character '\\''"));
        assert!(err("title eq \"a\" && title pr").contains("unexpected character '&' at position 13"));
        assert!(err("title eq \"é\" é").contains("unexpected character 'é'"));
        assert!(err("title pr pr").contains("found 'pr'"));
    }

    #[test]
    fn string_literals_are_json_strings() {
        let u = json!({"displayName": "He said \"hi\" \\ bye", "title": "Ünïcode ☃"});
        assert!(m_on(r#"displayName eq "He said \"hi\" \\ bye""#, &u));
        assert!(m_on(r#"displayName co "\"hi\"""#, &u));
        assert!(m_on(r#"displayName ew "\u005c bye""#, &u));
        assert!(m_on(r#"title eq "\u00dcn\u00efcode \u2603""#, &u));
        assert!(m_on(r#"title eq "ünïcode ☃""#, &u));
        assert!(m(r#"name.familyName eq "O\u0027Malley""#));
        assert!(m(r#"name.familyName eq "O'Malley""#));
        assert!(m(r#"meta.version eq "W/\"a330bc54f0671c9\"""#));
        assert!(err(r#"title eq "abc"#).contains("unterminated string starting at position 9"));
        assert!(err(r#"title eq "abc\"#).contains("unterminated"));
        assert!(err(r#"title eq "a\qb""#).contains("invalid string starting at position 9"));
        assert!(err(r#"title eq "\ud800""#).contains("invalid string"));
        assert!(err("title eq \"a\tb\"").contains("invalid string"));
        assert!(err(r#"title eq "\u12""#).contains("invalid string"));
    }

    // ---- bounds ------------------------------------------------------------------------------

    #[test]
    fn length_bound() {
        let pad = MAX_FILTER_LEN - r#"title eq """#.len();
        let ok = format!(r#"title eq "{}""#, "a".repeat(pad));
        assert_eq!(ok.len(), MAX_FILTER_LEN);
        assert!(!m(&ok));
        let long = format!(r#"title eq "{}""#, "a".repeat(pad + 1));
        assert!(err(&long).contains("4097 bytes"));
        err(&"(".repeat(10 * MAX_FILTER_LEN));
    }

    #[test]
    fn depth_bound() {
        let nest = |n: usize| format!("{}title pr{}", "(".repeat(n), ")".repeat(n));
        assert!(m(&nest(MAX_FILTER_DEPTH)));
        assert!(err(&nest(MAX_FILTER_DEPTH + 1)).contains("nests more than 16"));
        let nots = |n: usize| format!("{}title pr{}", "not (".repeat(n), ")".repeat(n));
        assert!(m(&nots(MAX_FILTER_DEPTH)), "an even number of nots");
        assert!(err(&nots(MAX_FILTER_DEPTH + 1)).contains("nests"));
        // Alternating and/or inside parentheses: the tree depth grows twice as fast.
        let mut f = "title pr".to_string();
        for _ in 0..9 {
            f = format!("title pr or title pr and ({f})");
        }
        assert!(err(&f).contains("levels of and/or/not"));
        // Long flat chains are fine: they are one level.
        let chain = vec!["title pr"; 300].join(" and ");
        assert!(m(&chain));
        let chain = vec![r#"userName eq "x""#; 200].join(" or ");
        assert!(!m(&chain));
    }

    #[test]
    fn hostile_nesting_fails_fast() {
        let start = Clock::now();
        for hostile in [
            "(".repeat(100_000),
            "not(".repeat(100_000),
            "(".repeat(MAX_FILTER_LEN),
            "not(".repeat(MAX_FILTER_LEN / 4),
            format!("{}title pr", "not (".repeat(MAX_FILTER_LEN / 6)),
            format!("{}title pr{}", "(".repeat(2000), ")".repeat(2000)),
            "emails[".repeat(500),
            "[".repeat(MAX_FILTER_LEN),
            ")".repeat(MAX_FILTER_LEN),
            "\"".repeat(MAX_FILTER_LEN),
            "\\".repeat(MAX_FILTER_LEN),
            "-".repeat(MAX_FILTER_LEN),
            format!("title eq {}", "9".repeat(MAX_FILTER_LEN - 9)),
        ] {
            err(&hostile);
        }
        assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
    }

    // ---- identity providers ------------------------------------------------------------------

    #[test]
    fn okta_filters() {
        assert!(m(r#"userName eq "test.user@okta.local""#));
        assert!(m(r#"userName eq "TEST.USER@OKTA.LOCAL""#));
        assert!(!m(r#"userName eq "other.user@okta.local""#));
        assert_eq!(
            key(r#"userName eq "TEST.USER@OKTA.LOCAL""#),
            Some(IndexKey::UserName("TEST.USER@OKTA.LOCAL".into()))
        );
    }

    #[test]
    fn entra_filters() {
        let guid = "5f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8";
        let u = json!({"userName": guid, "externalId": "a1B2c3", "active": true});
        assert!(m_on(&format!(r#"userName eq "{guid}""#), &u));
        assert!(m_on(&format!(r#"userName eq "{}""#, guid.to_uppercase()), &u));
        assert!(m_on(r#"externalId eq "a1B2c3""#, &u));
        assert!(!m_on(r#"externalId eq "A1B2C3""#, &u));
        assert_eq!(key(r#"externalId eq "a1B2c3""#), Some(IndexKey::ExternalId("a1B2c3".into())));
        assert!(m_on(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
            &user()
        ));
    }

    // ---- index keys --------------------------------------------------------------------------

    #[test]
    fn index_keys() {
        assert_eq!(key(r#"userName eq "bjensen""#), Some(IndexKey::UserName("bjensen".into())));
        assert_eq!(key(r#"USERNAME EQ "BJensen""#), Some(IndexKey::UserName("BJensen".into())));
        assert_eq!(
            key(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "b""#),
            Some(IndexKey::UserName("b".into()))
        );
        assert_eq!(key(r#"externalId eq "E1""#), Some(IndexKey::ExternalId("E1".into())));
        assert_eq!(key(r#"id eq "abc""#), Some(IndexKey::Id("abc".into())));
        assert_eq!(key(r#"emails.value eq "a@b.c""#), Some(IndexKey::Email("a@b.c".into())));
        assert_eq!(key(r#"emails eq "a@b.c""#), Some(IndexKey::Email("a@b.c".into())));
        assert_eq!(key(r#"emails[value eq "a@b.c"]"#), Some(IndexKey::Email("a@b.c".into())));
        assert_eq!(key(r#"emails[type eq "work" and value eq "a@b.c"]"#), Some(IndexKey::Email("a@b.c".into())));
        // In an `and`, recursively; the most selective wins.
        assert_eq!(key(r#"title pr and userName eq "u""#), Some(IndexKey::UserName("u".into())));
        assert_eq!(
            key(r#"title pr and (active eq true and externalId eq "e")"#),
            Some(IndexKey::ExternalId("e".into()))
        );
        assert_eq!(key(r#"userName eq "u" and id eq "i""#), Some(IndexKey::Id("i".into())));
        assert_eq!(key(r#"emails.value eq "m" and externalId eq "e""#), Some(IndexKey::ExternalId("e".into())));
        // Not for `or`, `not`, other operators, other attributes or an `or` inside brackets.
        assert_eq!(key(r#"userName eq "a" or userName eq "b""#), None);
        assert_eq!(key(r#"title pr and (userName eq "a" or id eq "b")"#), None);
        assert_eq!(key(r#"not (userName eq "a")"#), None);
        assert_eq!(key(r#"userName ne "a""#), None);
        assert_eq!(key(r#"userName sw "a""#), None);
        assert_eq!(key(r#"userName eq null"#), None);
        assert_eq!(key("userName pr"), None);
        assert_eq!(key(r#"displayName eq "a""#), None);
        assert_eq!(key(r#"emails.type eq "work""#), None);
        assert_eq!(key(r#"emails[value eq "a" or value eq "b"]"#), None);
        assert_eq!(key(r#"phoneNumbers[value eq "1"]"#), None);
        assert_eq!(key(r#"urn:ietf:params:scim:schemas:extension:fastly:2.0:User:userId eq "x""#), None);
    }

    // ---- RFC 7644 §3.4.2.2 examples ----------------------------------------------------------

    #[test]
    fn rfc_7644_examples() {
        let mut u = user();
        u["userName"] = json!("bjensen");
        let ok = |f: &str, expected: bool| assert_eq!(m_on(f, &u), expected, "{f}");
        ok(r#"userName eq "bjensen""#, true);
        ok(r#"name.familyName co "O'Malley""#, true);
        ok(r#"userName sw "J""#, false);
        ok(r#"userName sw "B""#, true);
        ok(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#, false);
        ok(r#"title pr"#, true);
        ok(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false);
        ok(r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true);
        ok(r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, false);
        ok(r#"meta.lastModified le "2011-05-13T04:42:34Z""#, true);
        ok(r#"title pr and userType eq "Employee""#, true);
        ok(r#"title pr or userType eq "Intern""#, true);
        ok(r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#, true);
        ok(r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#, true);
        ok(r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#, false);
        ok(r#"userType eq "Employee" and (emails.type eq "work")"#, true);
        ok(r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#, true);
        // `ims` is not an attribute of this server's User.
        assert!(err(
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#
        )
        .contains("unknown attribute 'ims'"));
        assert!(m_on(r#"emails[type eq "work" and value co "@example.com"] or phoneNumbers[type eq "xmpp"]"#, &u));
    }

    // ---- values_at, equality -----------------------------------------------------------------

    #[test]
    fn values_at_flattens() {
        let u = user();
        let at = |p: &str| values_at(&u, &schema::resolve(p).unwrap());
        assert_eq!(at("userName"), vec![&json!("test.user@okta.local")]);
        assert_eq!(at("emails.value"), vec![&json!("bjensen@example.com"), &json!("babs@jensen.org")]);
        assert_eq!(at("emails").len(), 2);
        assert_eq!(at("emails.display"), Vec::<&Value>::new());
        assert_eq!(at("name.givenName"), vec![&json!("Barbara")]);
        assert_eq!(at(&format!("{ENT}:manager.displayName")), vec![&json!("John Smith")]);
        assert_eq!(at(&format!("{FST}:customerId")), vec![&json!("Cust456")]);
        assert!(at("addresses.type").is_empty());
        assert!(at("nickName").len() == 1);
        let odd = json!({"USERNAME": "x", "emails": [null, {"value": null}, {"VALUE": "v"}], "title": null});
        let at = |p: &str| values_at(&odd, &schema::resolve(p).unwrap());
        assert_eq!(at("userName"), vec![&json!("x")], "case-insensitive fallback");
        assert_eq!(at("emails.value"), vec![&json!("v")]);
        assert!(at("title").is_empty());
        assert!(values_at(&json!("not an object"), &schema::resolve("userName").unwrap()).is_empty());
    }

    #[test]
    fn parses_compare_equal() {
        assert_eq!(parse("TITLE PR").unwrap(), parse("title pr").unwrap());
        assert_ne!(parse("title pr").unwrap(), parse("nickName pr").unwrap());
        let f = parse(r#"emails[type eq "work"]"#).unwrap();
        assert_eq!(f.clone(), f);
        assert!(format!("{f:?}").contains("emails"));
    }
}
