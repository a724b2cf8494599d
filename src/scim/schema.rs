//! The attribute tables of the User resource. Everything that needs to know an attribute's
//! type, mutability, case sensitivity or visibility reads it from here: the JSON reader, the
//! filter evaluator, the PATCH engine, projection and `/Schemas`. What `/Schemas` advertises is
//! therefore exactly what the server enforces.

pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const FASTLY_USER: &str = "urn:ietf:params:scim:schemas:extension:fastly:2.0:User";

/// The roles Fastly knows (the legacy single `role` of the Fastly API).
pub const FASTLY_ROLES: &[&str] = &["user", "billing", "engineer", "superuser", "tls_viewer", "tls_admin"];
/// Most values one multi-valued attribute holds (emails, phoneNumbers, addresses, roles, …). A
/// person has a handful; the bound keeps the work of one request linear in its size (comparing
/// values pairwise, as de-duplication and PATCH do, is quadratic in their number).
pub const MAX_VALUES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Reference,
    Complex,
    Binary,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Boolean => "boolean",
            Kind::Decimal => "decimal",
            Kind::Integer => "integer",
            Kind::DateTime => "dateTime",
            Kind::Reference => "reference",
            Kind::Complex => "complex",
            Kind::Binary => "binary",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute definition (RFC 7643 §7).
#[derive(Debug, Clone, Copy)]
pub struct Attribute {
    pub name: &'static str,
    pub kind: Kind,
    pub multi_valued: bool,
    pub description: &'static str,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [Attribute],
    /// For a required attribute: the server supplies a value on creation when the client gives
    /// none (`active: true`, the `user` role), so the client need not send it.
    pub server_default: bool,
    /// Whether filters may name this attribute. Attributes that are never returned are not
    /// filterable, so a filter cannot probe what a GET would not show.
    pub filterable: bool,
}

impl Attribute {
    const fn new(name: &'static str, kind: Kind, description: &'static str) -> Self {
        Attribute {
            name,
            kind,
            multi_valued: false,
            description,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            reference_types: &[],
            sub_attributes: &[],
            server_default: false,
            filterable: true,
        }
    }
    const fn string(name: &'static str, description: &'static str) -> Self {
        Self::new(name, Kind::String, description)
    }
    const fn boolean(name: &'static str, description: &'static str) -> Self {
        Self::new(name, Kind::Boolean, description)
    }
    const fn complex(name: &'static str, description: &'static str, subs: &'static [Attribute]) -> Self {
        let mut a = Self::new(name, Kind::Complex, description);
        a.sub_attributes = subs;
        a
    }
    const fn reference(name: &'static str, description: &'static str, types: &'static [&'static str]) -> Self {
        let mut a = Self::new(name, Kind::Reference, description);
        a.reference_types = types;
        a
    }
    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn read_only(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self
    }
    const fn write_only(mut self) -> Self {
        self.mutability = Mutability::WriteOnly;
        self.returned = Returned::Never;
        self.filterable = false;
        self
    }
    const fn defaulted(mut self) -> Self {
        self.required = true;
        self.server_default = true;
        self
    }
    const fn on_request(mut self) -> Self {
        self.returned = Returned::Request;
        self
    }
    const fn always(mut self) -> Self {
        self.returned = Returned::Always;
        self
    }
    const fn server_unique(mut self) -> Self {
        self.uniqueness = Uniqueness::Server;
        self
    }
    const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }

    pub fn is_complex(&self) -> bool {
        self.kind == Kind::Complex
    }

    /// A sub-attribute by name, case-insensitively (RFC 7643 §2.1).
    pub fn sub(&self, name: &str) -> Option<&'static Attribute> {
        find(self.sub_attributes, name)
    }
}

/// A schema: its URN and top-level attributes.
#[derive(Debug)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [Attribute],
}

impl Schema {
    pub fn attribute(&self, name: &str) -> Option<&'static Attribute> {
        find(self.attributes, name)
    }
}

pub fn find(attributes: &'static [Attribute], name: &str) -> Option<&'static Attribute> {
    attributes.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

const NAME_SUBS: &[Attribute] = &[
    Attribute::string("formatted", "The full name, formatted for display."),
    Attribute::string("familyName", "The family name (last name)."),
    Attribute::string("givenName", "The given name (first name)."),
    Attribute::string("middleName", "The middle name(s)."),
    Attribute::string("honorificPrefix", "The honorific prefix, e.g. 'Ms.'."),
    Attribute::string("honorificSuffix", "The honorific suffix, e.g. 'III'."),
];

const EMAIL_SUBS: &[Attribute] = &[
    Attribute::string("value", "The email address."),
    Attribute::string("display", "A human-readable name for the address."),
    Attribute::string("type", "The kind of address."),
    Attribute::boolean("primary", "Whether this is the primary address."),
];

const PHONE_SUBS: &[Attribute] = &[
    Attribute::string("value", "The phone number."),
    Attribute::string("display", "A human-readable form of the number."),
    Attribute::string("type", "The kind of number."),
    Attribute::boolean("primary", "Whether this is the primary number."),
];

const ADDRESS_SUBS: &[Attribute] = &[
    Attribute::string("formatted", "The full mailing address, formatted for display."),
    Attribute::string("streetAddress", "The street address."),
    Attribute::string("locality", "The city or locality."),
    Attribute::string("region", "The state or region."),
    Attribute::string("postalCode", "The postal code."),
    Attribute::string("country", "The country, as an ISO 3166-1 alpha-2 code."),
    Attribute::string("type", "The kind of address."),
    Attribute::boolean("primary", "Whether this is the primary address."),
];

const ROLE_SUBS: &[Attribute] = &[
    Attribute::string("value", "The Fastly role.").canonical(FASTLY_ROLES),
    Attribute::string("display", "A human-readable name for the role."),
    Attribute::string("type", "A label for the role's function."),
    Attribute::boolean("primary", "Whether this is the primary role."),
];

const GROUP_SUBS: &[Attribute] = &[
    Attribute::string("value", "The id of the group.").read_only(),
    Attribute::reference("$ref", "The URI of the group.", &["User", "Group"]).read_only(),
    Attribute::string("display", "The name of the group.").read_only(),
    Attribute::string("type", "How the membership was derived.").read_only(),
];

const USER_ATTRIBUTES: &[Attribute] = &[
    Attribute::string(
        "userName",
        "Unique in the account. When it is an email address it becomes the Fastly login, which cannot change afterwards (only Fastly support changes logins); otherwise the primary email is the login and userName may change.",
    )
    .required()
    .server_unique(),
    Attribute::complex("name", "The components of the user's name.", NAME_SUBS),
    Attribute::string("displayName", "The name shown for the user."),
    Attribute::string("nickName", "The casual name of the user."),
    Attribute::string("title", "The user's title, e.g. 'Vice President'."),
    Attribute::string("userType", "The relation of the user to the organization."),
    Attribute::string("preferredLanguage", "The preferred language, e.g. 'en-US'."),
    Attribute::string("locale", "The default location, e.g. 'en-US'."),
    Attribute::string("timezone", "The time zone, in IANA format, e.g. 'Europe/Amsterdam'."),
    // Required: every user is active or not. On creation the server supplies `true` when absent.
    Attribute::boolean("active", "Whether the user has access to Fastly. false removes the Fastly user; true restores it.")
        .defaulted(),
    Attribute::string("password", "Accepted and discarded: Fastly users sign in with SSO.").write_only(),
    Attribute::complex("emails", "Email addresses of the user.", EMAIL_SUBS).multi(),
    Attribute::complex("phoneNumbers", "Phone numbers of the user.", PHONE_SUBS).multi(),
    Attribute::complex("addresses", "Physical mailing addresses of the user.", ADDRESS_SUBS).multi(),
    // Required: every Fastly user has a role. On creation the server supplies `user` when absent.
    Attribute::complex("roles", "The user's Fastly role. One role per user through SCIM.", ROLE_SUBS).multi().defaulted(),
    Attribute::complex("groups", "Groups the user belongs to (none: scim-edge serves Users only).", GROUP_SUBS)
        .multi()
        .read_only(),
];

const MANAGER_SUBS: &[Attribute] = &[
    Attribute::string("value", "The id of the manager."),
    Attribute::reference("$ref", "The URI of the manager.", &["User"]),
    Attribute::string("displayName", "The manager's display name.").read_only(),
];

const ENTERPRISE_ATTRIBUTES: &[Attribute] = &[
    Attribute::string("employeeNumber", "A number assigned by the organization."),
    Attribute::string("costCenter", "The cost center."),
    Attribute::string("organization", "The organization."),
    Attribute::string("division", "The division."),
    Attribute::string("department", "The department."),
    Attribute::complex("manager", "The user's manager.", MANAGER_SUBS),
];

const FASTLY_ATTRIBUTES: &[Attribute] = &[
    Attribute::string("role", "The Fastly role of the user, the same as the primary roles[].value.")
        .canonical(FASTLY_ROLES)
        .defaulted(),
    Attribute::string("userId", "The id of the Fastly user, absent while the user is inactive.")
        .read_only()
        .case_exact()
        .on_request(),
    Attribute::string("customerId", "The id of the Fastly account.").read_only().case_exact().on_request(),
];

/// Attributes every resource has (RFC 7643 §3.1). They are not part of any schema's
/// representation in `/Schemas`, but filters, projection and PATCH know them.
pub const COMMON_ATTRIBUTES: &[Attribute] = &[
    Attribute::string("id", "The id scim-edge assigned.").read_only().always().case_exact().server_unique(),
    Attribute::string("externalId", "The id the identity provider uses.").case_exact(),
    Attribute::complex("meta", "Resource metadata.", META_SUBS).read_only(),
];

const META_SUBS: &[Attribute] = &[
    Attribute::string("resourceType", "The resource type.").read_only().case_exact(),
    Attribute::new("created", Kind::DateTime, "When the resource was created.").read_only(),
    Attribute::new("lastModified", Kind::DateTime, "When the resource was last changed.").read_only(),
    Attribute::reference("location", "The URI of the resource.", &["uri"]).read_only().case_exact(),
    Attribute::string("version", "The version (ETag) of the resource.").read_only().case_exact(),
];

pub static USER_SCHEMA: Schema =
    Schema { id: CORE_USER, name: "User", description: "User Account", attributes: USER_ATTRIBUTES };

pub static ENTERPRISE_SCHEMA: Schema = Schema {
    id: ENTERPRISE_USER,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRIBUTES,
};

pub static FASTLY_SCHEMA: Schema = Schema {
    id: FASTLY_USER,
    name: "FastlyUser",
    description: "The user's Fastly account facts",
    attributes: FASTLY_ATTRIBUTES,
};

/// The extension schemas of the User resource type, in the order they are advertised.
pub static USER_EXTENSIONS: [&Schema; 2] = [&ENTERPRISE_SCHEMA, &FASTLY_SCHEMA];

/// Every schema the server knows, core first.
pub static ALL_SCHEMAS: [&Schema; 3] = [&USER_SCHEMA, &ENTERPRISE_SCHEMA, &FASTLY_SCHEMA];

/// The attributes returned only when a request names them, as (schema id, attribute name): the
/// whole representation leaves them out. The tables above say the same (a test checks it); kept
/// as a list so that writing a user needs no walk of the tables.
pub const REQUEST_ONLY: &[(&str, &str)] = &[(FASTLY_USER, "userId"), (FASTLY_USER, "customerId")];

/// An extension schema by URN, case-insensitively.
pub fn extension(urn: &str) -> Option<&'static Schema> {
    USER_EXTENSIONS.iter().copied().find(|s| s.id.eq_ignore_ascii_case(urn))
}

/// Where an attribute lives in the JSON representation of a User.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    /// `None` for core and common attributes (top level of the JSON); the extension schema otherwise.
    pub extension: Option<&'static Schema>,
    pub attribute: &'static Attribute,
    pub sub: Option<&'static Attribute>,
}

impl Resolved {
    /// The attribute that the path finally names.
    pub fn target(&self) -> &'static Attribute {
        self.sub.unwrap_or(self.attribute)
    }
}

/// Resolves an attribute path (`userName`, `name.givenName`, `emails.value`,
/// `urn:…:enterprise:2.0:User:manager.value`, `urn:…:core:2.0:User:userName`)
/// case-insensitively (RFC 7644 §3.10). `None` if no such attribute exists.
pub fn resolve(path: &str) -> Option<Resolved> {
    let (extension, rest) = split_urn(path)?;
    let (name, sub) = match rest.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (rest, None),
    };
    let attribute = match extension {
        Some(schema) => schema.attribute(name)?,
        None => USER_SCHEMA.attribute(name).or_else(|| find(COMMON_ATTRIBUTES, name))?,
    };
    let sub = match sub {
        Some(s) => Some(attribute.sub(s)?),
        None => None,
    };
    Some(Resolved { extension, attribute, sub })
}

/// Splits a URN prefix off a path. Returns the extension schema (or `None` for the core schema
/// and unprefixed paths) and the remaining attribute path. `None` for an unknown URN.
pub fn split_urn(path: &str) -> Option<(Option<&'static Schema>, &str)> {
    if !path.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
        return Some((None, path));
    }
    for schema in ALL_SCHEMAS {
        let id = schema.id;
        let prefix_matches = path.get(..id.len()).is_some_and(|p| p.eq_ignore_ascii_case(id));
        if prefix_matches && path.as_bytes().get(id.len()) == Some(&b':') {
            let rest = path.get(id.len() + 1..)?;
            let ext = if schema.id == CORE_USER { None } else { Some(schema) };
            return Some((ext, rest));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_only_lists_the_tables_returned_on_request() {
        let from_tables: Vec<(&str, &str)> = ALL_SCHEMAS
            .iter()
            .flat_map(|s| s.attributes.iter().filter(|a| a.returned == Returned::Request).map(move |a| (s.id, a.name)))
            .collect();
        assert_eq!(from_tables, REQUEST_ONLY);
    }

    #[test]
    fn resolves_core_sub_and_urn_paths_case_insensitively() {
        let r = resolve("NAME.givenname").unwrap();
        assert_eq!(r.attribute.name, "name");
        assert_eq!(r.sub.unwrap().name, "givenName");
        assert!(r.extension.is_none());

        let r = resolve("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value").unwrap();
        assert_eq!(r.extension.unwrap().id, ENTERPRISE_USER);
        assert_eq!(r.target().name, "value");

        let r = resolve("urn:ietf:params:scim:schemas:core:2.0:User:userName").unwrap();
        assert_eq!(r.attribute.name, "userName");
        assert!(r.extension.is_none());

        assert_eq!(resolve("id").unwrap().attribute.mutability, Mutability::ReadOnly);
        assert_eq!(resolve("meta.lastModified").unwrap().target().kind, Kind::DateTime);
    }

    #[test]
    fn unknown_paths_do_not_resolve() {
        assert!(resolve("nope").is_none());
        assert!(resolve("name.nope").is_none());
        assert!(resolve("urn:example:unknown:User:role").is_none());
        assert!(resolve("urn:ietf:params:scim:schemas:extension:fastly:2.0:User").is_none());
    }

    #[test]
    fn password_is_write_only_and_not_filterable() {
        let p = resolve("password").unwrap().attribute;
        assert_eq!(p.returned, Returned::Never);
        assert!(!p.filterable);
    }
}
