//! RFC 7644 §3.5.2 PATCH: parse PatchOp requests and apply them to a User.
//!
//! [`parse`] reads the request body into [`Operation`]s; [`apply`] applies them to the JSON
//! representation of a User, all or nothing. The User JSON holds core and common attributes at
//! the top level and extension attributes under their schema URN, always under the canonical
//! names of [`schema`]; names in requests are case-insensitive.
//!
//! Choices where RFC 7644 leaves room (or where identity providers need leniency):
//! - More than [`MAX_OPERATIONS`] operations: `invalidValue` (`tooMany` is about filter results).
//! - `"path": ""` or `"path": null` is treated as an absent path.
//! - `replace` (and `add`) of a single-valued complex attribute merges the given sub-attributes
//!   into the current value; sub-attributes not given are left unchanged (RFC 7644 §3.5.2.3).
//! - A complex attribute with a `value` sub-attribute accepts a bare scalar as `{"value": …}`
//!   (Entra sends the enterprise `manager` as a plain id).
//! - Read-only sub-attributes inside a value (`manager.displayName`) are dropped, as for PUT:
//!   identity providers echo them. A path that *targets* a read-only attribute is a `mutability`
//!   error, except that members of an object value (path-less operations and extension URN
//!   paths) whose value equals the current one are ignored (Okta echoes whole objects).
//! - `replace` with `"value": null` unassigns the target (RFC 7643 §2.5); `add` needs a non-null
//!   value.
//! - A sub-attribute of a multi-valued attribute without a filter (`emails.type`) designates that
//!   sub-attribute of every element; `add`/`replace` create one element when there is none.
//! - `add` or `replace` through a value filter that matches nothing creates an element carrying
//!   the filter's equalities when the filter is a conjunction of `eq` comparisons (Entra's
//!   `emails[type eq "work"].value`); otherwise `noTarget`.
//! - `remove` with a `value` on an unfiltered multi-valued path removes only the listed members
//!   (by `value` sub-attribute, or whole element); listed members that are absent are ignored.
//! - At most one element written by one operation may have `primary: true` (`invalidValue`
//!   otherwise); writing one clears `primary` on the other elements.
//! - A `schemas` member of a path-less value is ignored: the caller maintains `schemas`.
//! - Null values, empty arrays and empty objects are dropped from the whole resource.
//! - A multi-valued attribute holds at most [`schema::MAX_VALUES`] values, after each operation,
//!   and one operation lists at most that many: `invalidValue` otherwise. Values are compared
//!   pairwise, so this bound is what keeps a 64 KB body from costing seconds of CPU.

use std::fmt;

use serde_json::{Map, Value};

use super::error::{ScimError, ScimResult};
use super::filter::{self, Filter};
use super::schema::{self, Attribute, Kind, Mutability, Resolved, Schema};
use super::user::too_many_values;

/// The schema URN of a PATCH request body.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Most operations accepted in one request; more are rejected with `invalidValue`.
pub const MAX_OPERATIONS: usize = 100;
/// Longest path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 4096;

/// A PATCH operation kind (`op`, case-insensitive on input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

impl Op {
    /// `add`, `replace` or `remove`, in any case.
    pub fn parse(input: &str) -> Option<Op> {
        let input = input.trim();
        [Op::Add, Op::Replace, Op::Remove].into_iter().find(|op| op.as_str().eq_ignore_ascii_case(input))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Replace => "replace",
            Op::Remove => "remove",
        }
    }
}

/// One entry of `Operations`.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: Op,
    pub path: Option<Path>,
    /// As given; `Some(Value::Null)` for an explicit `"value": null`.
    pub value: Option<Value>,
}

/// A parsed PATCH path: an attribute (optionally with a sub-attribute), a multi-valued attribute
/// with a value filter (optionally followed by a sub-attribute), or a bare schema URN.
#[derive(Clone)]
pub struct Path {
    target: Target,
    filter: Option<ValueFilter>,
}

#[derive(Clone, Copy)]
enum Target {
    /// A bare schema URN: the value is an object of that schema's attributes.
    Schema(&'static Schema),
    /// An attribute; `sub` is the sub-attribute of `name.sub` or of `name[filter].sub`.
    Attribute(Resolved),
}

#[derive(Clone)]
struct ValueFilter {
    text: String,
    filter: Filter,
    /// The `sub eq literal` pairs when the filter is a conjunction of equalities only: what an
    /// element created for a filter that matched nothing carries.
    equalities: Option<Vec<(&'static Attribute, Value)>>,
}

impl Path {
    /// The schema of a bare schema URN path.
    pub fn schema(&self) -> Option<&'static Schema> {
        match self.target {
            Target::Schema(s) => Some(s),
            Target::Attribute(_) => None,
        }
    }

    /// The attribute the path names (with its sub-attribute), unless it is a bare schema URN.
    pub fn resolved(&self) -> Option<Resolved> {
        match self.target {
            Target::Schema(_) => None,
            Target::Attribute(r) => Some(r),
        }
    }

    /// The extension schema the path lies in; `None` for the core schema.
    pub fn extension(&self) -> Option<&'static Schema> {
        match self.target {
            Target::Schema(s) => (s.id != schema::CORE_USER).then_some(s),
            Target::Attribute(r) => r.extension,
        }
    }

    pub fn attribute(&self) -> Option<&'static Attribute> {
        self.resolved().map(|r| r.attribute)
    }

    pub fn sub_attribute(&self) -> Option<&'static Attribute> {
        self.resolved().and_then(|r| r.sub)
    }

    /// The value filter of `attr[filter]`.
    pub fn value_filter(&self) -> Option<&Filter> {
        self.filter.as_ref().map(|f| &f.filter)
    }
}

/// The path with canonical attribute names and the filter text as given.
impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.target {
            Target::Schema(s) => f.write_str(s.id),
            Target::Attribute(r) => {
                if let Some(ext) = r.extension {
                    write!(f, "{}:", ext.id)?;
                }
                f.write_str(r.attribute.name)?;
                if let Some(vf) = &self.filter {
                    write!(f, "[{}]", vf.text)?;
                }
                if let Some(sub) = r.sub {
                    write!(f, ".{}", sub.name)?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Path").field(&self.to_string()).finish()
    }
}

/// Paths are equal when their canonical renderings are (names canonical, filter text as given).
impl PartialEq for Path {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

/// Parses a PATCH path (RFC 7644 §3.5.2 `PATH`): `attrPath`, `valuePath ["." subAttr]`, or a
/// bare schema URN. Syntax errors and unknown attributes are `invalidPath`.
pub fn parse_path(input: &str) -> ScimResult<Path> {
    let input = input.trim();
    if input.is_empty() {
        return Err(ScimError::invalid_path("the path is empty"));
    }
    if input.len() > MAX_PATH_LEN {
        return Err(ScimError::invalid_path(format!("the path is longer than {MAX_PATH_LEN} bytes")));
    }
    let Some((head, after)) = input.split_once('[') else {
        return parse_attr_path(input);
    };
    let resolved = schema::resolve(head)
        .ok_or_else(|| ScimError::invalid_path(format!("unknown attribute {head:?} in path {input:?}")))?;
    let attribute = resolved.attribute;
    if resolved.sub.is_some() || !attribute.multi_valued {
        return Err(ScimError::invalid_path(format!(
            "a value filter may only follow a multi-valued attribute, not {head:?}"
        )));
    }
    let close = closing_bracket(after)
        .ok_or_else(|| ScimError::invalid_path(format!("unterminated value filter in path {input:?}")))?;
    let (text, tail) = match (after.get(..close), after.get(close + 1..)) {
        (Some(text), Some(tail)) => (text, tail),
        _ => return Err(ScimError::invalid_path(format!("malformed path {input:?}"))),
    };
    let sub = if tail.is_empty() {
        None
    } else {
        let name = tail.strip_prefix('.').ok_or_else(|| {
            ScimError::invalid_path(format!("unexpected {tail:?} after the value filter in path {input:?}"))
        })?;
        Some(
            attribute
                .sub(name)
                .ok_or_else(|| ScimError::invalid_path(format!("{} has no sub-attribute {name:?}", attribute.name)))?,
        )
    };
    let parsed = filter::parse_value_filter(attribute, text)
        .map_err(|e| ScimError::invalid_path(format!("invalid value filter in path {input:?}: {}", e.detail)))?;
    Ok(Path {
        target: Target::Attribute(Resolved { extension: resolved.extension, attribute, sub }),
        filter: Some(ValueFilter { text: text.to_string(), filter: parsed, equalities: equalities(attribute, text) }),
    })
}

fn parse_attr_path(input: &str) -> ScimResult<Path> {
    let target = if let Some(ext) = schema::extension(input) {
        Target::Schema(ext)
    } else if input.eq_ignore_ascii_case(schema::CORE_USER) {
        Target::Schema(&schema::USER_SCHEMA)
    } else {
        let resolved = schema::resolve(input)
            .ok_or_else(|| ScimError::invalid_path(format!("unknown attribute path {input:?}")))?;
        Target::Attribute(resolved)
    };
    Ok(Path { target, filter: None })
}

/// The byte offset of the `]` closing a value filter, skipping quoted strings. `None` when there
/// is none, or when another `[` comes first (value filters do not nest).
fn closing_bracket(text: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            ']' => return Some(i),
            '[' => return None,
            _ => {}
        }
    }
    None
}

#[derive(Debug)]
enum Token {
    Paren,
    Word(String),
    Str(String),
}

fn tokenize(text: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' || c == ')' {
            chars.next();
            tokens.push(Token::Paren);
        } else if c == '"' {
            chars.next();
            let mut escaped = false;
            let mut end = None;
            for (i, c) in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    end = Some(i);
                    break;
                }
            }
            let literal = text.get(start..=end?)?;
            tokens.push(Token::Str(serde_json::from_str(literal).ok()?));
        } else {
            let mut end = text.len();
            while let Some(&(i, c)) = chars.peek() {
                if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                    end = i;
                    break;
                }
                chars.next();
            }
            tokens.push(Token::Word(text.get(start..end)?.to_string()));
        }
    }
    Some(tokens)
}

/// The `(sub-attribute, literal)` pairs of a value filter that is a conjunction of `eq`
/// comparisons (parentheses allowed); `None` for any other filter.
fn equalities(parent: &'static Attribute, text: &str) -> Option<Vec<(&'static Attribute, Value)>> {
    let mut tokens = tokenize(text)?.into_iter().filter(|t| !matches!(t, Token::Paren));
    let mut pairs: Vec<(&'static Attribute, Value)> = Vec::new();
    loop {
        let Some(Token::Word(name)) = tokens.next() else {
            return None;
        };
        let sub = parent.sub(&name)?;
        match tokens.next() {
            Some(Token::Word(op)) if op.eq_ignore_ascii_case("eq") => {}
            _ => return None,
        }
        let literal = match tokens.next()? {
            Token::Str(s) => Value::String(s),
            Token::Word(w) if w.eq_ignore_ascii_case("true") => Value::Bool(true),
            Token::Word(w) if w.eq_ignore_ascii_case("false") => Value::Bool(false),
            Token::Word(w) => Value::Number(serde_json::from_str(&w).ok()?),
            Token::Paren => return None,
        };
        let literal = normalize_single(sub, &literal).ok()?;
        match pairs.iter().find(|(a, _)| a.name == sub.name) {
            Some((_, v)) if *v != literal => return None,
            Some(_) => {}
            None => pairs.push((sub, literal)),
        }
        match tokens.next() {
            None => return Some(pairs),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("and") => {}
            Some(_) => return None,
        }
    }
}

/// Parses a PatchOp request body (RFC 7644 §3.5.2).
pub fn parse(body: &Value) -> ScimResult<Vec<Operation>> {
    let obj = body.as_object().ok_or_else(|| ScimError::invalid_syntax("the PATCH body must be a JSON object"))?;
    let schemas = get_ci(obj, "schemas")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax(format!("the PATCH body needs \"schemas\": [\"{PATCH_OP}\"]")))?;
    if !schemas.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP))) {
        return Err(ScimError::invalid_syntax(format!("\"schemas\" must contain \"{PATCH_OP}\"")));
    }
    let ops = get_ci(obj, "Operations")
        .ok_or_else(|| ScimError::invalid_syntax("the PATCH body has no \"Operations\""))?
        .as_array()
        .ok_or_else(|| ScimError::invalid_syntax("\"Operations\" must be an array"))?;
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("\"Operations\" must not be empty"));
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_value(format!(
            "a PATCH request may carry at most {MAX_OPERATIONS} operations, not {}",
            ops.len()
        )));
    }
    ops.iter().enumerate().map(|(i, op)| parse_operation(op).map_err(|e| at_operation(i, e))).collect()
}

fn parse_operation(op: &Value) -> ScimResult<Operation> {
    let obj = op.as_object().ok_or_else(|| ScimError::invalid_syntax("an operation must be a JSON object"))?;
    let name = get_ci(obj, "op")
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::invalid_syntax("an operation needs \"op\": \"add\", \"replace\" or \"remove\""))?;
    let kind = Op::parse(name).ok_or_else(|| {
        ScimError::invalid_syntax(format!("unknown op {name:?}; expected \"add\", \"replace\" or \"remove\""))
    })?;
    let path = match get_ci(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(parse_path(p)?),
        Some(_) => return Err(ScimError::invalid_path("\"path\" must be a string")),
    };
    let value = get_ci(obj, "value").cloned();
    let operation = Operation { op: kind, path, value };
    check_operation(&operation)?;
    Ok(operation)
}

/// What a well-formed operation needs, whatever the resource.
fn check_operation(op: &Operation) -> ScimResult<()> {
    match (op.op, &op.path, &op.value) {
        (Op::Remove, None, _) => Err(ScimError::no_target("remove needs a \"path\"")),
        (Op::Remove, Some(_), _) => Ok(()),
        (Op::Add | Op::Replace, _, None) => {
            Err(ScimError::invalid_value(format!("{} needs a \"value\"", op.op.as_str())))
        }
        (Op::Add | Op::Replace, None, Some(v)) if !v.is_object() => Err(ScimError::invalid_value(format!(
            "{} without a \"path\" needs an object of attributes as \"value\"",
            op.op.as_str()
        ))),
        (Op::Add, Some(_), Some(Value::Null)) => Err(ScimError::invalid_value("add needs a non-null \"value\"")),
        _ => Ok(()),
    }
}

fn at_operation(index: usize, e: ScimError) -> ScimError {
    ScimError { detail: format!("Operations[{index}]: {}", e.detail), ..e }
}

/// Applies the operations in order. All or nothing: on error `user` is unchanged.
pub fn apply(user: &mut Value, ops: &[Operation]) -> ScimResult<()> {
    let mut work = user.clone();
    let root = work.as_object_mut().ok_or_else(ScimError::internal)?;
    for (i, op) in ops.iter().enumerate() {
        apply_operation(root, op).map_err(|e| at_operation(i, e))?;
    }
    prune_map(root);
    *user = work;
    Ok(())
}

fn apply_operation(root: &mut Map<String, Value>, op: &Operation) -> ScimResult<()> {
    check_operation(op)?;
    if let Some(path) = &op.path {
        return apply_at(root, op.op, path, op.value.as_ref(), false);
    }
    let members = op.value.as_ref().and_then(Value::as_object).ok_or_else(ScimError::internal)?;
    for (key, value) in members {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let path = parse_path(key)?;
        apply_at(root, op.op, &path, Some(value), true)?;
    }
    Ok(())
}

/// `lenient`: the target is a member of an object value (path-less operation or schema URN
/// path), so a read-only attribute given its current value is ignored.
fn apply_at(
    root: &mut Map<String, Value>,
    op: Op,
    path: &Path,
    value: Option<&Value>,
    lenient: bool,
) -> ScimResult<()> {
    match path.target {
        Target::Schema(s) => apply_schema(root, op, s, value),
        Target::Attribute(r) => apply_attribute(root, op, path, r, value, lenient),
    }
}

fn require_value(op: Op, value: Option<&Value>) -> ScimResult<&Value> {
    match value {
        None => Err(ScimError::invalid_value(format!("{} needs a \"value\"", op.as_str()))),
        Some(Value::Null) if op == Op::Add => Err(ScimError::invalid_value("add needs a non-null \"value\"")),
        Some(v) => Ok(v),
    }
}

fn apply_schema(
    root: &mut Map<String, Value>,
    op: Op,
    target: &'static Schema,
    value: Option<&Value>,
) -> ScimResult<()> {
    let is_core = target.id == schema::CORE_USER;
    let value = match op {
        Op::Remove => None,
        Op::Add | Op::Replace => Some(require_value(op, value)?),
    };
    match value {
        None | Some(Value::Null) => {
            if is_core {
                return Err(ScimError::invalid_path("the core User schema cannot be removed"));
            }
            if let Some(Value::Object(ext)) = get_ci(root, target.id) {
                for (name, v) in ext {
                    let fixed = target
                        .attribute(name)
                        .is_some_and(|a| matches!(a.mutability, Mutability::ReadOnly | Mutability::Immutable));
                    if fixed && !is_empty(v) {
                        return Err(ScimError::mutability(format!(
                            "{}:{name} cannot be removed, so neither can {}",
                            target.id, target.id
                        )));
                    }
                }
            }
            take_ci(root, target.id);
            Ok(())
        }
        Some(Value::Object(members)) => {
            // An extension object may carry its own `schemas` (scim2-models does): not an attribute.
            for (key, v) in members.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("schemas")) {
                let path = parse_path(&format!("{}:{key}", target.id))?;
                apply_at(root, op, &path, Some(v), true)?;
            }
            Ok(())
        }
        Some(_) => {
            Err(ScimError::invalid_value(format!("the value for {} must be an object of its attributes", target.id)))
        }
    }
}

/// The current value a filter-less attribute path designates.
fn current(root: &Map<String, Value>, r: Resolved) -> Option<&Value> {
    let container = match r.extension {
        None => root,
        Some(ext) => get_ci(root, ext.id)?.as_object()?,
    };
    let value = get_ci(container, r.attribute.name)?;
    match r.sub {
        None => Some(value),
        Some(sub) if !r.attribute.multi_valued => get_ci(value.as_object()?, sub.name),
        Some(_) => None,
    }
}

fn apply_attribute(
    root: &mut Map<String, Value>,
    op: Op,
    path: &Path,
    r: Resolved,
    value: Option<&Value>,
    lenient: bool,
) -> ScimResult<()> {
    let attr = r.attribute;
    let value = match op {
        Op::Remove => value.filter(|v| !v.is_null()),
        Op::Add | Op::Replace => Some(require_value(op, value)?),
    };

    let has = |m: Mutability| attr.mutability == m || r.sub.is_some_and(|s| s.mutability == m);
    if has(Mutability::ReadOnly) {
        let unchanged =
            lenient && op != Op::Remove && path.filter.is_none() && same_value(r.target(), current(root, r), value);
        if unchanged {
            return Ok(());
        }
        return Err(ScimError::mutability(format!("{path} is readOnly")));
    }
    if has(Mutability::Immutable) {
        let now = current(root, r).filter(|v| !is_empty(v));
        let holds_values = current(root, Resolved { sub: None, ..r }).is_some_and(|v| !is_empty(v));
        if now.is_some() || (path.filter.is_some() && holds_values) {
            if op != Op::Remove && path.filter.is_none() && same_value(r.target(), now, value) {
                return Ok(());
            }
            return Err(ScimError::mutability(format!("{path} is immutable and already has a value")));
        }
    }

    let container = match r.extension {
        None => root,
        Some(ext) => object_entry(root, ext.id)?,
    };

    if !attr.multi_valued {
        return apply_single(container, op, r, value);
    }
    let mut elements = match take_ci(container, attr.name) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(other) => vec![other],
    };
    let result = apply_multi(&mut elements, op, path, r, value);
    container.insert(attr.name.to_string(), Value::Array(elements));
    result
}

fn apply_single(container: &mut Map<String, Value>, op: Op, r: Resolved, value: Option<&Value>) -> ScimResult<()> {
    let attr = r.attribute;
    match (r.sub, op, value) {
        (Some(sub), Op::Remove, _) => {
            if let Some(Value::Object(obj)) = get_mut_ci(container, attr.name) {
                take_ci(obj, sub.name);
            }
        }
        (None, Op::Remove, _) => {
            take_ci(container, attr.name);
        }
        (_, _, None) => return Err(ScimError::internal()),
        (Some(sub), _, Some(v)) => {
            let v = normalize_single(sub, v)?;
            set(object_entry(container, attr.name)?, sub.name, v);
        }
        (None, _, Some(v)) => match normalize_single(attr, v)? {
            Value::Object(incoming) if attr.is_complex() => merge(object_entry(container, attr.name)?, incoming),
            v => set(container, attr.name, v),
        },
    }
    Ok(())
}

/// What an add or replace writes into the elements of a multi-valued attribute.
enum Write {
    Sub(&'static Attribute, Value),
    Element(Value),
}

fn apply_multi(elements: &mut Vec<Value>, op: Op, path: &Path, r: Resolved, value: Option<&Value>) -> ScimResult<()> {
    let attr = r.attribute;
    let mut written: Vec<usize> = Vec::new();
    match (&path.filter, r.sub, op, value) {
        (None, None, Op::Remove, None) => elements.clear(),
        (None, None, Op::Remove, Some(members)) => remove_members(attr, elements, members)?,
        (None, Some(sub), Op::Remove, _) => {
            for element in elements.iter_mut() {
                if let Some(obj) = element.as_object_mut() {
                    take_ci(obj, sub.name);
                }
            }
        }
        (Some(vf), sub, Op::Remove, _) => {
            let matches = matching(vf, elements);
            if matches.is_empty() {
                return Err(ScimError::no_target(format!("no element of {} matches [{}]", attr.name, vf.text)));
            }
            match sub {
                Some(sub) => {
                    for i in matches {
                        if let Some(obj) = elements.get_mut(i).and_then(Value::as_object_mut) {
                            take_ci(obj, sub.name);
                        }
                    }
                }
                None => {
                    let mut index = 0;
                    elements.retain(|_| {
                        let keep = !matches.contains(&index);
                        index += 1;
                        keep
                    });
                }
            }
        }
        (_, _, _, None) => return Err(ScimError::internal()),
        (None, None, Op::Add, Some(v)) => {
            for element in normalize_multi(attr, v)? {
                if is_empty(&element) {
                    continue;
                }
                match elements.iter().position(|e| same_single(attr, e, &element)) {
                    Some(i) => written.push(i),
                    None => {
                        elements.push(element);
                        written.push(elements.len() - 1);
                    }
                }
            }
        }
        (None, None, Op::Replace, Some(v)) => {
            *elements = normalize_multi(attr, v)?;
            written = (0..elements.len()).collect();
        }
        (None, Some(sub), _, Some(v)) => {
            let v = normalize_single(sub, v)?;
            if elements.is_empty() {
                elements.push(Value::Object(Map::new()));
            }
            for element in elements.iter_mut() {
                if let Some(obj) = object_in(element) {
                    set(obj, sub.name, v.clone());
                }
            }
            written = (0..elements.len()).collect();
        }
        (Some(vf), sub, _, Some(v)) => {
            let write = match sub {
                Some(sub) => Write::Sub(sub, normalize_single(sub, v)?),
                None => Write::Element(normalize_single(attr, v)?),
            };
            let matches = matching(vf, elements);
            let unassigns = matches!(&write, Write::Sub(_, Value::Null) | Write::Element(Value::Null));
            if matches.is_empty() && unassigns {
                // `replace` with null through a filter that matches nothing: nothing to unassign.
                return Ok(());
            }
            if matches.is_empty() {
                let Some(pairs) = &vf.equalities else {
                    return Err(ScimError::no_target(format!(
                        "no element of {} matches [{}], and the filter does not describe one to create",
                        attr.name, vf.text
                    )));
                };
                let mut created = Map::new();
                for (a, literal) in pairs {
                    created.insert(a.name.to_string(), literal.clone());
                }
                match write {
                    Write::Sub(sub, v) => set(&mut created, sub.name, v),
                    Write::Element(Value::Object(obj)) => merge(&mut created, obj),
                    Write::Element(other) => {
                        return Err(ScimError::invalid_value(format!(
                            "an element of {} must be an object, not {other}",
                            attr.name
                        )))
                    }
                }
                elements.push(Value::Object(created));
                written.push(elements.len() - 1);
            } else {
                for i in matches {
                    let Some(element) = elements.get_mut(i) else {
                        continue;
                    };
                    match (&write, op) {
                        (Write::Sub(sub, v), _) => {
                            if let Some(target) = object_in(element) {
                                set(target, sub.name, v.clone());
                            }
                        }
                        (Write::Element(Value::Object(obj)), Op::Add) => {
                            if let Some(target) = object_in(element) {
                                merge(target, obj.clone());
                            }
                        }
                        (Write::Element(v), _) => *element = v.clone(),
                    }
                    written.push(i);
                }
            }
        }
    }
    // Operations add up: the bound holds after each one, so the next one's comparisons stay bounded.
    if elements.len() > schema::MAX_VALUES {
        return Err(too_many_values(attr.name, elements.len()));
    }
    enforce_primary(attr, elements, &written)
}

fn matching(vf: &ValueFilter, elements: &[Value]) -> Vec<usize> {
    elements.iter().enumerate().filter(|(_, e)| vf.filter.matches_element(e)).map(|(i, _)| i).collect()
}

/// `remove` with a value on a multi-valued attribute: drops the listed members only.
fn remove_members(attr: &'static Attribute, elements: &mut Vec<Value>, members: &Value) -> ScimResult<()> {
    let listed: Vec<&Value> = match members {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    if listed.len() > schema::MAX_VALUES {
        return Err(too_many_values(attr.name, listed.len()));
    }
    let value_sub = attr.sub("value");
    let is_listed = |element: &Value| {
        listed.iter().any(|member| {
            let member_value = match (member, value_sub) {
                (Value::Object(m), Some(_)) => get_ci(m, "value"),
                (Value::Object(_), None) => None,
                (scalar, _) => Some(*scalar),
            };
            match (member_value, value_sub) {
                (Some(mv), Some(vs)) => {
                    let ev = element.as_object().and_then(|o| get_ci(o, "value")).unwrap_or(element);
                    same_single(vs, ev, mv)
                }
                _ => normalize_single(attr, member).is_ok_and(|m| same_single(attr, element, &m)),
            }
        })
    };
    elements.retain(|e| !is_listed(e));
    Ok(())
}

/// RFC 7643 §2.4: `primary: true` appears at most once. If the operation wrote one element with
/// `primary: true`, the others lose it.
fn enforce_primary(attr: &'static Attribute, elements: &mut [Value], written: &[usize]) -> ScimResult<()> {
    if attr.sub("primary").is_none() {
        return Ok(());
    }
    let mut primaries: Vec<usize> =
        written.iter().copied().filter(|&i| elements.get(i).is_some_and(is_primary)).collect();
    primaries.sort_unstable();
    primaries.dedup();
    match primaries.as_slice() {
        [] => Ok(()),
        [keep] => {
            for (i, element) in elements.iter_mut().enumerate() {
                if i != *keep && is_primary(element) {
                    if let Some(obj) = element.as_object_mut() {
                        set(obj, "primary", Value::Bool(false));
                    }
                }
            }
            Ok(())
        }
        _ => Err(ScimError::invalid_value(format!("at most one element of {} may be primary", attr.name))),
    }
}

fn is_primary(element: &Value) -> bool {
    element.as_object().and_then(|o| get_ci(o, "primary")) == Some(&Value::Bool(true))
}

/// One value of `attr` (one element, for a multi-valued attribute) with canonical
/// sub-attribute names, booleans coerced and read-only sub-attributes dropped.
fn normalize_single(attr: &'static Attribute, value: &Value) -> ScimResult<Value> {
    match (attr.kind, value) {
        (_, Value::Null) => Ok(Value::Null),
        (Kind::Boolean, v) => coerce_bool(attr, v).map(Value::Bool),
        (Kind::Complex, Value::Object(members)) => {
            let mut out = Map::new();
            for (key, v) in members {
                let sub = attr
                    .sub(key)
                    .ok_or_else(|| ScimError::invalid_value(format!("{} has no sub-attribute {key:?}", attr.name)))?;
                if sub.mutability == Mutability::ReadOnly {
                    continue;
                }
                out.insert(sub.name.to_string(), normalize_single(sub, v)?);
            }
            Ok(Value::Object(out))
        }
        (Kind::Complex, Value::String(_) | Value::Number(_) | Value::Bool(_)) => match attr.sub("value") {
            Some(sub) => {
                let mut out = Map::new();
                out.insert(sub.name.to_string(), normalize_single(sub, value)?);
                Ok(Value::Object(out))
            }
            None => Err(ScimError::invalid_value(format!("{} must be an object", attr.name))),
        },
        (Kind::Complex, Value::Array(_)) => {
            Err(ScimError::invalid_value(format!("{} takes one object here, not an array", attr.name)))
        }
        (_, v) => Ok(v.clone()),
    }
}

/// The elements a value gives for a multi-valued attribute: an array, or one element.
fn normalize_multi(attr: &'static Attribute, value: &Value) -> ScimResult<Vec<Value>> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) if items.len() > schema::MAX_VALUES => Err(too_many_values(attr.name, items.len())),
        Value::Array(items) => items.iter().map(|v| normalize_single(attr, v)).collect(),
        one => Ok(vec![normalize_single(attr, one)?]),
    }
}

fn coerce_bool(attr: &Attribute, value: &Value) -> ScimResult<bool> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(ScimError::invalid_value(format!("{} must be a boolean, not {other}", attr.name))),
    }
}

fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn eq_ci(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
}

/// SCIM equality of two values of `attr` (absent, null and empty are all "unassigned").
fn same_value(attr: &'static Attribute, a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a.filter(|v| !is_empty(v)), b.filter(|v| !is_empty(v))) {
        (None, None) => true,
        (Some(a), Some(b)) if attr.multi_valued => {
            let items = |x: &Value| -> Vec<Value> {
                match x {
                    Value::Array(items) => items.iter().filter(|e| !is_empty(e)).cloned().collect(),
                    one => vec![one.clone()],
                }
            };
            let (a, b) = (items(a), items(b));
            a.len() == b.len()
                && a.iter().all(|x| b.iter().any(|y| same_single(attr, x, y)))
                && b.iter().all(|y| a.iter().any(|x| same_single(attr, x, y)))
        }
        (Some(a), Some(b)) => same_single(attr, a, b),
        _ => false,
    }
}

/// SCIM equality of one value (one element) of `attr`.
fn same_single(attr: &'static Attribute, a: &Value, b: &Value) -> bool {
    match (attr.kind, a, b) {
        (Kind::Boolean, _, _) => match (as_bool(a), as_bool(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
        (Kind::Complex, Value::Object(x), Value::Object(y)) => {
            x.keys().chain(y.keys()).all(|key| match attr.sub(key) {
                Some(sub) => match (assigned(x, sub.name), assigned(y, sub.name)) {
                    (None, None) => true,
                    (Some(p), Some(q)) => same_single(sub, p, q),
                    _ => false,
                },
                None => x.get(key) == y.get(key),
            })
        }
        (_, Value::String(x), Value::String(y)) if !attr.case_exact => eq_ci(x, y),
        _ => a == b,
    }
}

/// The value under `name`, unless it is unassigned (null or empty).
fn assigned<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    get_ci(map, name).filter(|v| !is_empty(v))
}

// JSON object helpers. Keys are matched case-insensitively and written canonically.

fn find_key(map: &Map<String, Value>, name: &str) -> Option<String> {
    if map.contains_key(name) {
        return Some(name.to_string());
    }
    map.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn get_ci<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v))
}

fn get_mut_ci<'a>(map: &'a mut Map<String, Value>, name: &str) -> Option<&'a mut Value> {
    let key = find_key(map, name)?;
    map.get_mut(&key)
}

/// Removes every spelling of `name`; returns the value under the exact name, else another one.
fn take_ci(map: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let exact = map.remove(name);
    let mut other = None;
    while let Some(key) = find_key(map, name) {
        let v = map.remove(&key);
        if other.is_none() {
            other = v;
        }
    }
    exact.or(other)
}

fn set(map: &mut Map<String, Value>, name: &str, value: Value) {
    take_ci(map, name);
    map.insert(name.to_string(), value);
}

fn merge(map: &mut Map<String, Value>, incoming: Map<String, Value>) {
    for (key, value) in incoming {
        set(map, &key, value);
    }
}

/// The object under `name` (canonical), created when absent or not an object.
fn object_entry<'a>(map: &'a mut Map<String, Value>, name: &str) -> ScimResult<&'a mut Map<String, Value>> {
    let obj = match take_ci(map, name) {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    };
    map.entry(name.to_string()).or_insert(Value::Object(obj)).as_object_mut().ok_or_else(ScimError::internal)
}

/// `value` as an object, replacing it by an empty object when it is not one.
fn object_in(value: &mut Value) -> Option<&mut Map<String, Value>> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    value.as_object_mut()
}

fn prune_map(map: &mut Map<String, Value>) {
    map.retain(|_, v| {
        prune(v);
        !is_empty(v)
    });
}

/// Drops nulls, empty arrays and empty objects (RFC 7643 §2.5: they mean "unassigned").
fn prune(value: &mut Value) {
    match value {
        Value::Object(o) => prune_map(o),
        Value::Array(a) => {
            a.iter_mut().for_each(prune);
            a.retain(|e| !is_empty(e));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::schema::{ENTERPRISE_USER, FASTLY_USER};
    use serde_json::json;

    const ENT: &str = ENTERPRISE_USER;
    const FST: &str = FASTLY_USER;

    fn user() -> Value {
        json!({
            "schemas": [schema::CORE_USER, ENT, FST],
            "id": "u1",
            "externalId": "ext-1",
            "userName": "alice@example.com",
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "displayName": "Alice Smith",
            "active": true,
            "emails": [
                {"value": "alice@example.com", "type": "work", "primary": true},
                {"value": "alice@home.example", "type": "home"}
            ],
            "roles": [{"value": "engineer", "primary": true}],
            "meta": {
                "resourceType": "User",
                "created": "2024-01-01T00:00:00Z",
                "lastModified": "2024-01-01T00:00:00Z",
                "version": "W/\"1\""
            },
            ENT: {"employeeNumber": "42", "manager": {"value": "m0", "displayName": "Boss"}},
            FST: {"role": "engineer", "userId": "fu1", "customerId": "c1"}
        })
    }

    fn body(ops: Value) -> Value {
        json!({"schemas": [PATCH_OP], "Operations": ops})
    }

    fn run_on(start: &Value, ops: Value) -> ScimResult<Value> {
        let ops = parse(&body(ops))?;
        let mut u = start.clone();
        let result = apply(&mut u, &ops);
        if result.is_err() {
            assert_eq!(&u, start, "a failed PATCH must leave the user unchanged");
        }
        result.map(|()| u)
    }

    fn ok(ops: Value) -> Value {
        run_on(&user(), ops).unwrap()
    }

    fn err(ops: Value) -> Option<ScimType> {
        let e = run_on(&user(), ops).unwrap_err();
        assert_eq!(e.status, 400, "{e:?}");
        e.scim_type
    }

    fn emails(u: &Value) -> Vec<Value> {
        u["emails"].as_array().cloned().unwrap_or_default()
    }

    // ----- body -----

    #[test]
    fn body_needs_the_patchop_schema() {
        let no_schemas = json!({"Operations": [{"op": "add", "path": "title", "value": "x"}]});
        assert_eq!(parse(&no_schemas).unwrap_err().scim_type, Some(ScimType::InvalidSyntax));
        let wrong =
            json!({"schemas": [schema::CORE_USER], "Operations": [{"op": "add", "path": "title", "value": "x"}]});
        assert_eq!(parse(&wrong).unwrap_err().scim_type, Some(ScimType::InvalidSyntax));
        assert_eq!(parse(&json!([1])).unwrap_err().scim_type, Some(ScimType::InvalidSyntax));
    }

    #[test]
    fn body_operations_must_be_a_non_empty_array() {
        for ops in [json!([]), json!({}), json!("add")] {
            assert_eq!(parse(&body(ops)).unwrap_err().scim_type, Some(ScimType::InvalidSyntax));
        }
        let missing = json!({"schemas": [PATCH_OP]});
        assert_eq!(parse(&missing).unwrap_err().scim_type, Some(ScimType::InvalidSyntax));
        assert_eq!(parse(&body(json!([7]))).unwrap_err().scim_type, Some(ScimType::InvalidSyntax));
    }

    #[test]
    fn body_keys_and_op_names_are_case_insensitive() {
        let b = json!({
            "SCHEMAS": [PATCH_OP.to_uppercase()],
            "operations": [
                {"OP": "Add", "Path": "title", "Value": "CTO"},
                {"op": "REPLACE", "path": "nickName", "value": "Al"},
                {"op": "Remove", "path": "displayName"}
            ]
        });
        let ops = parse(&b).unwrap();
        assert_eq!(ops.iter().map(|o| o.op).collect::<Vec<_>>(), vec![Op::Add, Op::Replace, Op::Remove]);
        let mut u = user();
        apply(&mut u, &ops).unwrap();
        assert_eq!(u["title"], "CTO");
        assert_eq!(u["nickName"], "Al");
        assert!(u.get("displayName").is_none());
    }

    #[test]
    fn unknown_op_is_invalid_syntax() {
        assert_eq!(err(json!([{"op": "move", "path": "title", "value": "x"}])), Some(ScimType::InvalidSyntax));
        assert_eq!(err(json!([{"path": "title", "value": "x"}])), Some(ScimType::InvalidSyntax));
    }

    #[test]
    fn more_than_max_operations_is_invalid_value() {
        let op = json!({"op": "add", "path": "title", "value": "x"});
        let ops: Vec<Value> = std::iter::repeat_n(op, MAX_OPERATIONS + 1).collect();
        let e = parse(&body(Value::Array(ops.clone()))).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("100"), "{}", e.detail);
        assert!(parse(&body(Value::Array(ops[..MAX_OPERATIONS].to_vec()))).is_ok());
    }

    #[test]
    fn remove_without_path_is_no_target() {
        assert_eq!(err(json!([{"op": "remove"}])), Some(ScimType::NoTarget));
        assert_eq!(err(json!([{"op": "remove", "value": {"title": "x"}}])), Some(ScimType::NoTarget));
        // Built by hand, the same rule holds in apply.
        let mut u = user();
        let e = apply(&mut u, &[Operation { op: Op::Remove, path: None, value: None }]).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    }

    #[test]
    fn add_and_replace_need_a_value() {
        assert_eq!(err(json!([{"op": "add", "path": "title"}])), Some(ScimType::InvalidValue));
        assert_eq!(err(json!([{"op": "replace", "path": "title"}])), Some(ScimType::InvalidValue));
        assert_eq!(err(json!([{"op": "add", "path": "title", "value": null}])), Some(ScimType::InvalidValue));
        assert_eq!(err(json!([{"op": "replace"}])), Some(ScimType::InvalidValue));
    }

    #[test]
    fn pathless_value_must_be_an_object() {
        assert_eq!(err(json!([{"op": "replace", "value": "x"}])), Some(ScimType::InvalidValue));
        assert_eq!(err(json!([{"op": "add", "value": [{"title": "x"}]}])), Some(ScimType::InvalidValue));
    }

    #[test]
    fn empty_or_null_path_counts_as_absent() {
        let u = ok(json!([{"op": "replace", "path": "", "value": {"title": "x"}}]));
        assert_eq!(u["title"], "x");
        let u = ok(json!([{"op": "replace", "path": null, "value": {"title": "y"}}]));
        assert_eq!(u["title"], "y");
        assert_eq!(err(json!([{"op": "remove", "path": " "}])), Some(ScimType::NoTarget));
        assert_eq!(err(json!([{"op": "add", "path": 3, "value": "x"}])), Some(ScimType::InvalidPath));
    }

    #[test]
    fn errors_name_the_operation() {
        let e = run_on(
            &user(),
            json!([{"op": "add", "path": "title", "value": "x"}, {"op": "add", "path": "nope", "value": 1}]),
        )
        .unwrap_err();
        assert!(e.detail.starts_with("Operations[1]: "), "{}", e.detail);
    }

    // ----- paths -----

    #[test]
    fn paths_parse_and_render_canonically() {
        for (input, rendered) in [
            ("userName", "userName"),
            ("USERNAME", "userName"),
            ("name.GivenName", "name.givenName"),
            ("emails", "emails"),
            ("emails.value", "emails.value"),
            ("Emails[type eq \"work\"]", "emails[type eq \"work\"]"),
            ("emails[type eq \"work\"].VALUE", "emails[type eq \"work\"].value"),
            (&format!("{ENT}:employeeNumber"), &format!("{ENT}:employeeNumber")),
            (&format!("{ENT}:manager.value"), &format!("{ENT}:manager.value")),
            (ENT, ENT),
            (&ENT.to_lowercase(), ENT),
            (&format!("{}:userName", schema::CORE_USER), "userName"),
            ("  displayName ", "displayName"),
        ] {
            let p = parse_path(input).unwrap_or_else(|e| panic!("{input}: {e:?}"));
            assert_eq!(p.to_string(), rendered, "{input}");
        }
        let p = parse_path("emails[type eq \"work\"].value").unwrap();
        assert_eq!(p.attribute().unwrap().name, "emails");
        assert_eq!(p.sub_attribute().unwrap().name, "value");
        assert!(p.value_filter().is_some());
        assert!(p.extension().is_none());
        let p = parse_path(ENT).unwrap();
        assert_eq!(p.schema().unwrap().id, ENT);
        assert_eq!(p.extension().unwrap().id, ENT);
        assert!(p.attribute().is_none());
        assert_eq!(parse_path("NAME.givenname").unwrap(), parse_path("name.givenName").unwrap());
    }

    #[test]
    fn brackets_may_hold_quoted_brackets() {
        let p = parse_path(r#"emails[value eq "a]b\"]c"].type"#).unwrap();
        assert_eq!(p.sub_attribute().unwrap().name, "type");
        let f = p.value_filter().unwrap();
        assert!(f.matches_element(&json!({"value": "a]b\"]c"})));
    }

    #[test]
    fn bad_paths_are_invalid_path() {
        for input in [
            "nope",
            "name.nope",
            "userName.x",
            "emails[type eq \"work\"",
            "emails[type eq \"work\"]value",
            "emails[type eq \"work\"].nope",
            "emails[type eq \"work\"].value.x",
            "emails[type eq \"work\"][value eq \"x\"]",
            "emails[]",
            "emails[type eq]",
            "emails[nope eq \"x\"]",
            "name[givenName eq \"x\"]",
            "displayName[value eq \"x\"]",
            "emails.value[type eq \"x\"]",
            "[type eq \"x\"]",
            "urn:example:unknown:User:role",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:nope",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:",
            "schemas",
            "",
        ] {
            let e = parse_path(input).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{input}: {e:?}");
        }
        assert_eq!(parse_path(&"a".repeat(MAX_PATH_LEN + 1)).unwrap_err().scim_type, Some(ScimType::InvalidPath));
        assert_eq!(err(json!([{"op": "add", "path": "nope", "value": 1}])), Some(ScimType::InvalidPath));
        assert_eq!(err(json!([{"op": "add", "value": {"nope": 1}}])), Some(ScimType::InvalidPath));
    }

    #[test]
    fn equalities_are_extracted_from_conjunctions_only() {
        let emails = schema::resolve("emails").unwrap().attribute;
        let eqs = equalities(emails, r#"(Type eq "work") and primary eq true"#).unwrap();
        let names: Vec<_> = eqs.iter().map(|(a, v)| (a.name, v.clone())).collect();
        assert_eq!(names, vec![("type", json!("work")), ("primary", json!(true))]);
        assert!(equalities(emails, r#"type eq "work" or type eq "home""#).is_none());
        assert!(equalities(emails, r#"type ne "work""#).is_none());
        assert!(equalities(emails, r#"not (type eq "work")"#).is_none());
        assert!(equalities(emails, r#"type eq "a" and type eq "b""#).is_none());
        assert!(equalities(emails, r#"value pr"#).is_none());
    }

    // ----- add -----

    #[test]
    fn add_simple_attribute_sets_it() {
        let u = ok(
            json!([{"op": "add", "path": "title", "value": "CTO"}, {"op": "add", "path": "displayName", "value": "A"}]),
        );
        assert_eq!(u["title"], "CTO");
        assert_eq!(u["displayName"], "A");
    }

    #[test]
    fn add_complex_attribute_merges_sub_attributes() {
        let u = ok(json!([{"op": "add", "path": "name", "value": {"MiddleName": "B", "givenName": "Alicia"}}]));
        assert_eq!(u["name"], json!({"givenName": "Alicia", "familyName": "Smith", "middleName": "B"}));
        let u = ok(json!([{"op": "add", "path": "name.honorificPrefix", "value": "Dr."}]));
        assert_eq!(u["name"]["honorificPrefix"], "Dr.");
        assert_eq!(u["name"]["givenName"], "Alice");
    }

    #[test]
    fn add_multi_valued_appends_skipping_duplicates() {
        let u = ok(json!([{"op": "add", "path": "emails", "value": [
            {"value": "ALICE@example.com", "type": "work", "primary": true},
            {"value": "a2@example.com", "type": "other"}
        ]}]));
        let e = emails(&u);
        assert_eq!(e.len(), 3);
        assert_eq!(e[2], json!({"value": "a2@example.com", "type": "other"}));
        // A single object is one element.
        let u = ok(json!([{"op": "add", "path": "phoneNumbers", "value": {"value": "+1 555", "Type": "work"}}]));
        assert_eq!(u["phoneNumbers"], json!([{"value": "+1 555", "type": "work"}]));
    }

    #[test]
    fn add_without_path_applies_each_key_as_a_path() {
        let u = ok(json!([{"op": "add", "value": {
            "title": "CTO",
            "name.givenName": "X",
            format!("{ENT}:employeeNumber"): "1",
            format!("{ENT}:manager.value"): "m9",
            "emails[type eq \"other\"].value": "o@example.com",
            FST: {"role": "superuser"}
        }}]));
        assert_eq!(u["title"], "CTO");
        assert_eq!(u["name"]["givenName"], "X");
        assert_eq!(u[ENT]["employeeNumber"], "1");
        assert_eq!(u[ENT]["manager"], json!({"value": "m9", "displayName": "Boss"}));
        assert_eq!(u[FST], json!({"role": "superuser", "userId": "fu1", "customerId": "c1"}));
        assert!(emails(&u).contains(&json!({"type": "other", "value": "o@example.com"})));
    }

    #[test]
    fn add_into_absent_extension_creates_it() {
        let mut start = user();
        start.as_object_mut().unwrap().remove(ENT);
        let u = run_on(&start, json!([{"op": "add", "path": format!("{ENT}:department"), "value": "R&D"}])).unwrap();
        assert_eq!(u[ENT], json!({"department": "R&D"}));
    }

    #[test]
    fn names_are_written_canonically() {
        let mut start = user();
        start.as_object_mut().unwrap().insert("TITLE".into(), json!("old"));
        let u = run_on(&start, json!([{"op": "replace", "path": "title", "value": "new"}])).unwrap();
        assert_eq!(u["title"], "new");
        assert!(u.get("TITLE").is_none());
        let u = ok(
            json!([{"op": "add", "value": {"NAME.GIVENNAME": "Z", "urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:User:EMPLOYEENUMBER": "7"}}]),
        );
        assert_eq!(u["name"]["givenName"], "Z");
        assert_eq!(u[ENT]["employeeNumber"], "7");
    }

    #[test]
    fn unknown_sub_attribute_in_value_is_invalid_value() {
        assert_eq!(
            err(json!([{"op": "add", "path": "name", "value": {"nickname": "x"}}])),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(
            err(json!([{"op": "add", "path": "emails", "value": [{"value": "x", "kind": "w"}]}])),
            Some(ScimType::InvalidValue)
        );
        assert_eq!(
            err(json!([{"op": "add", "path": "name", "value": [{"givenName": "x"}]}])),
            Some(ScimType::InvalidValue)
        );
    }

    // ----- replace -----

    #[test]
    fn replace_single_valued_sets_it() {
        let u = ok(
            json!([{"op": "replace", "path": "displayName", "value": "New"}, {"op": "replace", "path": "name.familyName", "value": "F"}]),
        );
        assert_eq!(u["displayName"], "New");
        assert_eq!(u["name"], json!({"givenName": "Alice", "familyName": "F"}));
    }

    #[test]
    fn replace_complex_attribute_merges_per_rfc() {
        let u = ok(json!([{"op": "replace", "path": "name", "value": {"givenName": "G"}}]));
        assert_eq!(u["name"], json!({"givenName": "G", "familyName": "Smith"}));
    }

    #[test]
    fn replace_without_path() {
        let u = ok(
            json!([{"op": "replace", "value": {"displayName": "D", "name": {"familyName": "F"}, "roles": [{"value": "user"}]}}]),
        );
        assert_eq!(u["displayName"], "D");
        assert_eq!(u["name"], json!({"givenName": "Alice", "familyName": "F"}));
        assert_eq!(u["roles"], json!([{"value": "user"}]));
    }

    #[test]
    fn replace_multi_valued_without_filter_replaces_the_array() {
        let u =
            ok(json!([{"op": "replace", "path": "emails", "value": [{"value": "n@example.com", "primary": "True"}]}]));
        assert_eq!(u["emails"], json!([{"value": "n@example.com", "primary": true}]));
        let u = ok(json!([{"op": "replace", "path": "emails", "value": {"value": "one@example.com"}}]));
        assert_eq!(u["emails"], json!([{"value": "one@example.com"}]));
    }

    #[test]
    fn replace_with_null_unassigns() {
        let u = ok(
            json!([{"op": "replace", "path": "displayName", "value": null}, {"op": "replace", "path": "emails", "value": null}]),
        );
        assert!(u.get("displayName").is_none());
        assert!(u.get("emails").is_none());
        let u = ok(json!([{"op": "replace", "value": {"name": null, format!("{ENT}:manager"): null}}]));
        assert!(u.get("name").is_none());
        assert_eq!(u[ENT], json!({"employeeNumber": "42"}));
    }

    // ----- value filters -----

    #[test]
    fn filtered_add_sets_the_sub_attribute_on_matching_elements() {
        let u = ok(json!([{"op": "add", "path": "emails[type eq \"home\"].display", "value": "Home"}]));
        assert_eq!(emails(&u)[1], json!({"value": "alice@home.example", "type": "home", "display": "Home"}));
        assert_eq!(emails(&u)[0], user()["emails"][0]);
    }

    #[test]
    fn filtered_add_creates_the_missing_element() {
        let mut start = user();
        start.as_object_mut().unwrap().remove("emails");
        let u =
            run_on(&start, json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "x@example.com"}]))
                .unwrap();
        assert_eq!(u["emails"], json!([{"type": "work", "value": "x@example.com"}]));
        // Also when other elements exist but none matches.
        let u = ok(
            json!([{"op": "add", "path": "emails[type eq \"other\" and primary eq false].value", "value": "o@example.com"}]),
        );
        assert_eq!(emails(&u).len(), 3);
        assert_eq!(emails(&u)[2], json!({"type": "other", "primary": false, "value": "o@example.com"}));
        // A whole element through a filter.
        let u = ok(json!([{"op": "add", "path": "addresses[type eq \"work\"]", "value": {"locality": "Amsterdam"}}]));
        assert_eq!(u["addresses"], json!([{"type": "work", "locality": "Amsterdam"}]));
    }

    #[test]
    fn filtered_add_without_a_describable_element_is_no_target() {
        assert_eq!(
            err(json!([{"op": "add", "path": "emails[type sw \"x\"].value", "value": "x"}])),
            Some(ScimType::NoTarget)
        );
        assert_eq!(
            err(json!([{"op": "add", "path": "emails[type eq \"x\" or type eq \"y\"].value", "value": "x"}])),
            Some(ScimType::NoTarget)
        );
    }

    #[test]
    fn filtered_replace_replaces_matching_elements_or_sub_attributes() {
        let u = ok(
            json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "h@example.com", "type": "home"}}]),
        );
        assert_eq!(emails(&u)[1], json!({"value": "h@example.com", "type": "home"}));
        let u = ok(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "w@example.com"}]));
        assert_eq!(emails(&u)[0], json!({"value": "w@example.com", "type": "work", "primary": true}));
        assert_eq!(emails(&u).len(), 2);
        let u = ok(json!([{"op": "replace", "path": "emails[value co \"example\"].display", "value": "D"}]));
        assert!(emails(&u).iter().all(|e| e["display"] == "D"));
    }

    #[test]
    fn filtered_replace_with_no_match() {
        let u = ok(json!([{"op": "replace", "path": "emails[type eq \"other\"].value", "value": "o@example.com"}]));
        assert_eq!(emails(&u)[2], json!({"type": "other", "value": "o@example.com"}));
        assert_eq!(
            err(
                json!([{"op": "replace", "path": "emails[type ne \"work\" and type ne \"home\"].value", "value": "x"}])
            ),
            Some(ScimType::NoTarget)
        );
    }

    #[test]
    fn filtered_replace_with_null_unassigns_only_what_matches() {
        let u = ok(json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": null}]));
        assert_eq!(emails(&u)[1], json!({"type": "home"}));
        let u = ok(json!([{"op": "replace", "path": "emails[type eq \"other\"].value", "value": null}]));
        assert_eq!(u, user());
        let u = ok(json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": null}]));
        assert_eq!(emails(&u).len(), 1);
    }

    #[test]
    fn filtered_remove_removes_matching_elements_or_sub_attributes() {
        let u = ok(json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]));
        assert_eq!(u["emails"], json!([{"value": "alice@example.com", "type": "work", "primary": true}]));
        let u = ok(json!([{"op": "remove", "path": "emails[type eq \"work\"].primary"}]));
        assert_eq!(emails(&u)[0], json!({"value": "alice@example.com", "type": "work"}));
        let u = ok(json!([{"op": "remove", "path": "emails[value ew \"example\" or type eq \"work\"]"}]));
        assert!(u.get("emails").is_none(), "the empty array is dropped");
    }

    #[test]
    fn filtered_remove_matching_nothing_is_no_target() {
        assert_eq!(err(json!([{"op": "remove", "path": "emails[type eq \"other\"]"}])), Some(ScimType::NoTarget));
        assert_eq!(
            err(json!([{"op": "remove", "path": "phoneNumbers[type eq \"work\"].value"}])),
            Some(ScimType::NoTarget)
        );
    }

    #[test]
    fn unfiltered_sub_attribute_of_multi_valued_applies_to_every_element() {
        let u = ok(json!([{"op": "replace", "path": "emails.display", "value": "E"}]));
        assert!(emails(&u).iter().all(|e| e["display"] == "E"));
        let u = ok(json!([{"op": "remove", "path": "emails.type"}]));
        assert!(emails(&u).iter().all(|e| e.get("type").is_none()));
        let u = ok(json!([{"op": "add", "path": "phoneNumbers.value", "value": "+1"}]));
        assert_eq!(u["phoneNumbers"], json!([{"value": "+1"}]));
    }

    // ----- remove -----

    #[test]
    fn remove_attribute_and_sub_attribute() {
        let u = ok(
            json!([{"op": "remove", "path": "displayName"}, {"op": "remove", "path": "name.givenName"}, {"op": "remove", "path": "emails"}]),
        );
        assert!(u.get("displayName").is_none());
        assert_eq!(u["name"], json!({"familyName": "Smith"}));
        assert!(u.get("emails").is_none());
    }

    #[test]
    fn remove_missing_attribute_is_a_no_op() {
        let u = ok(
            json!([{"op": "remove", "path": "title"}, {"op": "remove", "path": "name.middleName"}, {"op": "remove", "path": "addresses"}]),
        );
        assert_eq!(u, user());
    }

    #[test]
    fn remove_drops_empty_containers() {
        let u = ok(json!([{"op": "remove", "path": "name.givenName"}, {"op": "remove", "path": "name.familyName"}]));
        assert!(u.get("name").is_none());
        let u = ok(
            json!([{"op": "remove", "path": format!("{ENT}:employeeNumber")}, {"op": "remove", "path": format!("{ENT}:manager")}]),
        );
        assert!(u.get(ENT).is_none());
        let u = ok(json!([{"op": "remove", "path": "roles[value eq \"engineer\"]"}]));
        assert!(u.get("roles").is_none());
    }

    #[test]
    fn remove_with_value_removes_only_listed_members() {
        // By `value`, case-insensitively.
        let u = ok(json!([{"op": "remove", "path": "emails", "value": [{"value": "ALICE@HOME.EXAMPLE"}]}]));
        assert_eq!(u["emails"], json!([{"value": "alice@example.com", "type": "work", "primary": true}]));
        // A bare scalar, and a member that is absent (ignored).
        let u = ok(json!([{"op": "remove", "path": "emails", "value": ["alice@example.com", "nobody@example.com"]}]));
        assert_eq!(u["emails"], json!([{"value": "alice@home.example", "type": "home"}]));
        // Whole-element equality where there is no `value` sub-attribute.
        let mut start = user();
        start["addresses"] = json!([{"locality": "A", "type": "work"}, {"locality": "B"}]);
        let u = run_on(&start, json!([{"op": "remove", "path": "addresses", "value": {"Locality": "b"}}])).unwrap();
        assert_eq!(u["addresses"], json!([{"locality": "A", "type": "work"}]));
        // Never the whole attribute.
        let u = ok(json!([{"op": "remove", "path": "emails", "value": []}]));
        assert_eq!(u["emails"], user()["emails"]);
    }

    // ----- primary -----

    #[test]
    fn primary_is_exclusive() {
        let u = ok(json!([{"op": "add", "path": "emails", "value": [{"value": "n@example.com", "primary": "true"}]}]));
        let e = emails(&u);
        assert_eq!(e[0]["primary"], false);
        assert_eq!(e[2]["primary"], true);
        let u = ok(json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": "True"}]));
        let e = emails(&u);
        assert_eq!(e[0]["primary"], false);
        assert_eq!(e[1]["primary"], true);
        // Setting primary false leaves the others alone.
        let u = ok(json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": false}]));
        assert_eq!(emails(&u)[0]["primary"], true);
    }

    #[test]
    fn two_primaries_in_one_operation_are_invalid_value() {
        let ops = json!([{"op": "replace", "path": "emails", "value": [{"value": "a", "primary": true}, {"value": "b", "primary": true}]}]);
        assert_eq!(err(ops), Some(ScimType::InvalidValue));
    }

    // ----- booleans -----

    #[test]
    fn string_booleans_are_coerced() {
        for (given, expected) in [("True", true), ("FALSE", false), ("tRuE", true), ("False", false)] {
            let mut start = user();
            start["active"] = json!(!expected);
            let u = run_on(&start, json!([{"op": "replace", "path": "active", "value": given}])).unwrap();
            assert_eq!(u["active"], json!(expected), "{given}");
        }
        let u = ok(json!([{"op": "Replace", "value": {"active": "False"}}]));
        assert_eq!(u["active"], false);
        let u = ok(json!([{"op": "add", "path": "roles", "value": {"value": "user", "primary": "TRUE"}}]));
        assert_eq!(u["roles"], json!([{"value": "engineer", "primary": false}, {"value": "user", "primary": true}]));
    }

    #[test]
    fn non_boolean_strings_for_booleans_are_invalid_value() {
        assert_eq!(err(json!([{"op": "replace", "path": "active", "value": "yes"}])), Some(ScimType::InvalidValue));
        assert_eq!(err(json!([{"op": "replace", "value": {"active": 1}}])), Some(ScimType::InvalidValue));
        assert_eq!(
            err(json!([{"op": "add", "path": "emails", "value": {"value": "x", "primary": "y"}}])),
            Some(ScimType::InvalidValue)
        );
    }

    // ----- mutability -----

    #[test]
    fn read_only_targets_are_mutability_errors() {
        for op in [
            json!({"op": "replace", "path": "id", "value": "u2"}),
            json!({"op": "replace", "path": "id", "value": "u1"}),
            json!({"op": "remove", "path": "id"}),
            json!({"op": "replace", "path": "meta.lastModified", "value": "2025-01-01T00:00:00Z"}),
            json!({"op": "add", "path": "groups", "value": [{"value": "g1"}]}),
            json!({"op": "remove", "path": "groups"}),
            json!({"op": "replace", "path": format!("{FST}:userId"), "value": "x"}),
            json!({"op": "remove", "path": format!("{FST}:customerId")}),
            json!({"op": "replace", "path": format!("{ENT}:manager.displayName"), "value": "B"}),
            json!({"op": "replace", "value": {"id": "u2"}}),
            json!({"op": "replace", "value": {FST: {"userId": "other"}}}),
            json!({"op": "remove", "path": FST}),
        ] {
            assert_eq!(err(json!([op.clone()])), Some(ScimType::Mutability), "{op}");
        }
    }

    #[test]
    fn read_only_echo_with_equal_value_is_ignored() {
        let u = ok(json!([{"op": "replace", "value": {
            "id": "u1",
            "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z", "lastModified": "2024-01-01T00:00:00Z", "version": "W/\"1\""},
            "groups": [],
            "schemas": ["whatever"],
            "displayName": "Echo",
            FST: {"role": "engineer", "userId": "fu1", "customerId": "c1"}
        }}]));
        let mut expected = user();
        expected["displayName"] = json!("Echo");
        assert_eq!(u, expected);
    }

    #[test]
    fn read_only_sub_attributes_inside_values_are_dropped() {
        let u = ok(
            json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": {"value": "m2", "displayName": "Other"}}]),
        );
        assert_eq!(u[ENT]["manager"], json!({"value": "m2", "displayName": "Boss"}));
    }

    #[test]
    fn removing_the_enterprise_extension_is_allowed() {
        let u = ok(json!([{"op": "remove", "path": ENT}]));
        assert!(u.get(ENT).is_none());
        assert_eq!(err(json!([{"op": "remove", "path": schema::CORE_USER}])), Some(ScimType::InvalidPath));
    }

    // ----- extension URN paths -----

    #[test]
    fn bare_extension_urn_path_takes_an_object_of_its_attributes() {
        let u = ok(json!([{"op": "add", "path": ENT, "value": {"department": "Ops", "Manager": {"value": "m3"}}}]));
        assert_eq!(
            u[ENT],
            json!({"employeeNumber": "42", "department": "Ops", "manager": {"value": "m3", "displayName": "Boss"}})
        );
        let u = ok(json!([{"op": "replace", "path": FST, "value": {"role": "superuser", "userId": "fu1"}}]));
        assert_eq!(u[FST]["role"], "superuser");
        assert_eq!(err(json!([{"op": "replace", "path": ENT, "value": "x"}])), Some(ScimType::InvalidValue));
        assert_eq!(err(json!([{"op": "add", "path": ENT, "value": {"nope": 1}}])), Some(ScimType::InvalidPath));
    }

    #[test]
    fn core_urn_key_in_pathless_value() {
        let u =
            ok(json!([{"op": "replace", "value": {schema::CORE_USER: {"displayName": "C", "name.givenName": "G"}}}]));
        assert_eq!(u["displayName"], "C");
        assert_eq!(u["name"]["givenName"], "G");
    }

    // ----- all or nothing -----

    #[test]
    fn a_failing_operation_leaves_the_user_unchanged() {
        let ops = parse(&body(json!([
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "remove", "path": "emails"},
            {"op": "replace", "path": "id", "value": "u2"}
        ])))
        .unwrap();
        let mut u = user();
        let e = apply(&mut u, &ops).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::Mutability));
        assert!(e.detail.starts_with("Operations[2]"), "{}", e.detail);
        assert_eq!(u, user());
    }

    // ----- identity providers -----

    #[test]
    fn okta_deactivate_and_reactivate() {
        let deactivate = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": false}}]});
        let mut u = user();
        apply(&mut u, &parse(&deactivate).unwrap()).unwrap();
        assert_eq!(u["active"], false);
        let reactivate = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": true}}]});
        apply(&mut u, &parse(&reactivate).unwrap()).unwrap();
        assert_eq!(u, user());
    }

    #[test]
    fn entra_full_sample() {
        let b = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
            {"op":"Replace","path":"displayName","value":"New"},
            {"op":"Add","path":"emails[type eq \"work\"].value","value":"x@example.com"},
            {"op":"Replace","path":"name.familyName","value":"F"},
            {"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"m1"}}
        ]});
        let mut u = user();
        apply(&mut u, &parse(&b).unwrap()).unwrap();
        assert_eq!(u["displayName"], "New");
        assert_eq!(emails(&u)[0], json!({"value": "x@example.com", "type": "work", "primary": true}));
        assert_eq!(u["name"]["familyName"], "F");
        assert_eq!(u[ENT]["manager"]["value"], "m1");
    }

    #[test]
    fn entra_pathless_add_and_string_booleans() {
        let b = json!({"schemas":[PATCH_OP],"Operations":[
            {"op":"Add","value":{"name.givenName":"X","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"1"}},
            {"op":"Replace","value":{"active":"False"}},
            {"op":"Add","path":"roles","value":[{"primary":"False","value":"user"}]}
        ]});
        let mut u = user();
        apply(&mut u, &parse(&b).unwrap()).unwrap();
        assert_eq!(u["name"]["givenName"], "X");
        assert_eq!(u[ENT]["employeeNumber"], "1");
        assert_eq!(u["active"], false);
        assert_eq!(u["roles"][1], json!({"value": "user", "primary": false}));
        assert_eq!(u["roles"][0]["primary"], true);
    }

    #[test]
    fn entra_manager_as_a_bare_id_and_its_removal() {
        let u = ok(json!([{"op": "Replace", "path": format!("{ENT}:manager"), "value": "m7"}]));
        assert_eq!(u[ENT]["manager"]["value"], "m7");
        let u = ok(json!([{"op": "Remove", "path": format!("{ENT}:manager"), "value": [{"value": "m0"}]}]));
        assert_eq!(u[ENT], json!({"employeeNumber": "42"}));
    }

    /// Found by fuzzing: 11,000 values in one `add` (a 55 KB body) cost 9 s of CPU, every new
    /// value being compared with every value already there.
    #[test]
    fn multi_valued_attributes_hold_a_bounded_number_of_values() {
        use crate::scim::schema::MAX_VALUES;
        let many = |n: usize, tag: &str| -> Vec<Value> { (0..n).map(|i| json!(format!("{tag}{i}@x.io"))).collect() };
        let huge: Vec<Value> = (0..11_000).map(|i| json!(i)).collect();
        for (op, path) in [("add", "emails"), ("replace", "emails"), ("add", "phoneNumbers"), ("remove", "emails")] {
            let e = run_on(&user(), json!([{"op": op, "path": path, "value": huge}])).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{op} {path}: {e:?}");
            assert!(e.detail.contains("at most 100 values"), "{}", e.detail);
        }
        let e = run_on(&user(), json!([{"op": "add", "value": {"emails": huge}}])).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));

        // Up to the bound is fine, however it is reached (2 values are there already)...
        let u = ok(json!([{"op": "add", "path": "emails", "value": many(MAX_VALUES - 2, "a")}]));
        assert_eq!(emails(&u).len(), MAX_VALUES);
        // ...and operations add up: each one is checked against the bound.
        let ops = json!([
            {"op": "add", "path": "emails", "value": many(60, "a")},
            {"op": "add", "path": "emails", "value": many(60, "b")}
        ]);
        let e = run_on(&user(), ops).unwrap_err();
        assert!(e.detail.starts_with("Operations[1]") && e.detail.contains("not 122"), "{}", e.detail);
        // Removing the listed members of a full attribute works.
        let full = ok(json!([{"op": "add", "path": "emails", "value": many(MAX_VALUES - 2, "a")}]));
        let u = run_on(&full, json!([{"op": "remove", "path": "emails", "value": many(MAX_VALUES, "a")}])).unwrap();
        assert_eq!(emails(&u).len(), 2);
    }

    #[test]
    fn entra_remove_filtered_value() {
        let u = ok(json!([{"op": "Remove", "path": "emails[type eq \"home\"].value", "value": "alice@home.example"}]));
        assert_eq!(emails(&u)[1], json!({"type": "home"}));
    }
}
